import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

/** A stopping MariaDB flushes its buffer pool; a few seconds locally, more on a slow disk. */
const DATABASE_EXIT_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 50;
/** Per call: far above a local round trip. */
const CALL_DEADLINE_MS = 10_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return true;
  }
}

async function waitForExit(pid: number): Promise<void> {
  const deadline = Date.now() + DATABASE_EXIT_TIMEOUT_MS;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`database pid ${pid} still running after ${DATABASE_EXIT_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

describe('two npm start processes on one data dir', function () {
  this.timeout(240_000);
  let dataDir: string;
  const servers: ServerProcess[] = [];
  let databasePid: number | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'payments-shared-data-'));
  });
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop('SIGKILL');
    if (databasePid !== undefined && isAlive(databasePid)) {
      process.kill(databasePid, 'SIGTERM');
      await waitForExit(databasePid);
    }
    databasePid = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<ServerProcess> {
    // No MYSQL_URL: the private database under PAYMENTS_DATA_DIR, as a plain `npm start`.
    const server = await startServerProcess({ MYSQL_URL: '', PAYMENTS_DATA_DIR: dataDir });
    servers.push(server);
    return server;
  }

  const statePid = (): number => (JSON.parse(readFileSync(path.join(dataDir, 'mysql', 'local-mysql-state.json'), 'utf8')) as { pid: number }).pid;

  /** GetCharge always reads the database: NOT_FOUND proves the instance still reaches it. */
  async function readsDatabase(server: ServerProcess, apiKey: string): Promise<grpc.status | undefined> {
    const client = new PaymentServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const result = await callUnary(
        client,
        PaymentServiceClient.prototype.getCharge,
        { chargeId: 'ch_none' },
        metadata({ authorization: `Bearer ${apiKey}` }),
        {
          deadline: Date.now() + CALL_DEADLINE_MS,
        },
      );
      return result.error?.code;
    } finally {
      client.close();
    }
  }

  /** The development key the first start on an empty database prints. */
  const apiKeyOf = (server: ServerProcess): string => String(server.logs.find((line) => 'api_key' in line)?.['api_key']);

  for (const order of ['the second', 'the first'] as const) {
    it(`keeps the database for the other instance when ${order} one exits, and the last one out stops it`, async () => {
      const first = await start();
      const apiKey = apiKeyOf(first);
      databasePid = statePid();
      const second = await start();
      expect(second.logs.some((line) => String(line['msg']).includes(`reusing`) && String(line['msg']).includes(`pid ${databasePid}`))).to.equal(true);
      expect(await readsDatabase(second, apiKey)).to.equal(grpc.status.NOT_FOUND);

      const [leaving, staying] = order === 'the second' ? [second, first] : [first, second];
      expect(await leaving.stop('SIGTERM')).to.equal(0);
      servers.splice(servers.indexOf(leaving), 1);

      expect(isAlive(databasePid), 'the database').to.equal(true);
      expect(await readsDatabase(staying, apiKey)).to.equal(grpc.status.NOT_FOUND);

      expect(await staying.stop('SIGTERM')).to.equal(0);
      servers.splice(servers.indexOf(staying), 1);
      await waitForExit(databasePid);
      expect(readdirSync(path.join(dataDir, 'mysql')).filter((name) => name.startsWith('local-mysql-user-'))).to.deep.equal([]);
    });
  }
});
