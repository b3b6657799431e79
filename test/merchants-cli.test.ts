import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import { type LocalMysql, startLocalMysql } from '../src/db/local-mysql.js';
import { createPool } from '../src/db/pool.js';
import { PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { hashApiKey } from '../src/merchants/merchant-store.js';
import { sharedDatabaseUrl } from './support/database.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const REPO_ROOT = path.resolve(__dirname, '..');
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const CLI = path.join(REPO_ROOT, 'scripts', 'merchants.ts');
/** tsx start-up plus a migration check and one insert; far below this even on a cold CI box. */
const CLI_TIMEOUT_MS = 30_000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the admin command as a subprocess, by default against the run's shared database. */
function runCli(args: readonly string[], env: NodeJS.ProcessEnv = { ...process.env, MYSQL_URL: sharedDatabaseUrl() }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(TSX, [CLI, ...args], { cwd: REPO_ROOT, timeout: CLI_TIMEOUT_MS, env }, (error, stdout, stderr) => {
      if (error === null) resolve({ code: 0, stdout, stderr });
      else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
      else reject(new Error(`merchants CLI did not finish: ${error.message}\n${stderr}`, { cause: error }));
    });
  });
}

describe('merchants admin command', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('creates a merchant whose printed API key authenticates against the server', async () => {
    const result = await runCli(['create', '--name', 'CLI test merchant']);

    expect(result.code, result.stderr).to.equal(0);
    const lines = result.stdout.split('\n').filter((line) => line !== '');
    expect(lines).to.have.length(1);
    const printed = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(Object.keys(printed)).to.deep.equal(['merchant_id', 'api_key']);
    expect(printed['merchant_id']).to.match(/^mer_/);
    expect(printed['api_key'])
      .to.be.a('string')
      .and.match(/^sk_live_/);

    const got = await callUnary(
      t.client,
      PaymentServiceClient.prototype.getCharge,
      { chargeId: 'ch_none' },
      metadata({ authorization: `Bearer ${String(printed['api_key'])}` }),
    );
    // NOT_FOUND, not UNAUTHENTICATED: the key was accepted and the lookup ran for that merchant.
    expect(got.error?.code).to.equal(Code.NOT_FOUND);
  });

  it('prints a different merchant and key on every run', async () => {
    const [a, b] = await Promise.all([runCli(['create', '--name', 'one']), runCli(['create', '--name', 'two'])]);
    const first = JSON.parse(a.stdout) as Record<string, string>;
    const second = JSON.parse(b.stdout) as Record<string, string>;
    expect(first['merchant_id']).to.not.equal(second['merchant_id']);
    expect(first['api_key']).to.not.equal(second['api_key']);
  });

  it('exits 2 with a usage message on stderr when --name is missing', async () => {
    const result = await runCli(['create']);

    expect(result.code).to.equal(2);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.include('--name').and.include('Usage:');
  });

  it('exits 2 for an unknown command or option', async () => {
    const unknownCommand = await runCli(['delete', '--name', 'x']);
    const unknownOption = await runCli(['create', '--name', 'x', '--colour', 'red']);

    expect(unknownCommand.code).to.equal(2);
    expect(unknownCommand.stderr).to.include('unknown command "delete"');
    expect(unknownOption.code).to.equal(2);
    expect(unknownOption.stderr).to.include('--colour');
    expect(unknownCommand.stdout + unknownOption.stdout).to.equal('');
  });

  it('prints its usage on stdout and exits 0 for --help', async () => {
    const result = await runCli(['--help']);

    expect(result.code).to.equal(0);
    expect(result.stdout).to.include('Usage: npm run -s merchants -- create --name NAME');
  });

  describe('without MYSQL_URL, on the private database of npm start', () => {
    let dataDir: string;
    let env: NodeJS.ProcessEnv;
    let running: LocalMysql | undefined;
    beforeEach(() => {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'payments-cli-'));
      env = { ...process.env, PAYMENTS_DATA_DIR: dataDir };
      delete env['MYSQL_URL'];
    });
    afterEach(async function () {
      this.timeout(60_000);
      await running?.stop();
      running = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    });

    /** Whether the API key is stored (hashed) in the database at `url`. */
    async function keyIsStored(url: string, apiKey: string): Promise<boolean> {
      const pool = createPool(url, 1);
      try {
        const [rows] = await pool.query('SELECT merchant_id FROM api_keys WHERE key_hash = ?', [hashApiKey(apiKey)]);
        return (rows as unknown[]).length === 1;
      } finally {
        await pool.end();
      }
    }

    it('starts the stopped private database for the command and stops it again', async function () {
      this.timeout(120_000);
      const result = await runCli(['create', '--name', 'offline'], env);

      expect(result.code, result.stderr).to.equal(0);
      const printed = JSON.parse(result.stdout) as Record<string, string>;
      expect(printed['merchant_id']).to.match(/^mer_/);
      // Stopped cleanly: the state file of a running server is gone.
      expect(existsSync(path.join(dataDir, 'mysql', 'local-mysql-state.json'))).to.equal(false);
      running = await startLocalMysql({ dataDir: path.join(dataDir, 'mysql') });
      expect(await keyIsStored(running.url, printed['api_key'] ?? '')).to.equal(true);
    });

    it('reuses the private database a running npm start holds, and leaves it running', async function () {
      this.timeout(120_000);
      running = await startLocalMysql({ dataDir: path.join(dataDir, 'mysql') });

      const result = await runCli(['create', '--name', 'online'], env);

      expect(result.code, result.stderr).to.equal(0);
      expect(result.stderr).to.match(new RegExp(`reusing \\w+ server pid ${running.pid} `));
      const printed = JSON.parse(result.stdout) as Record<string, string>;
      // Still serving after the command exited: its exit did not stop the server.
      expect(await keyIsStored(running.url, printed['api_key'] ?? '')).to.equal(true);
    });
  });
});
