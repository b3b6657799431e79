/**
 * The client library's cost per call against the bare generated client, on the same server.
 *
 *   npm run bench:client-overhead [-- --quick] [-- --rounds N --slice-ms MS]
 *
 * One server process (scripts/bench/throughput-server.ts: the real server with its interceptor)
 * against a private database (or MYSQL_URL) and the provider simulator; this process is the
 * client. For each method (GetCharge: a read, CreateCharge: a first call with a fresh key) and
 * each concurrency (1, 64), the bare generated PaymentServiceClient and the library's
 * PaymentsClient take turns in slices of equal length (so both meet the same machine), each
 * keeping `concurrency` calls in flight. Reported per pair: calls per second of each, the ratio
 * library / bare (median over rounds; 1.00 means no measurable cost), and this process's CPU per
 * call, which is where the library's own work shows.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { PaymentsClient } from '../../src/client/index.js';
import { type LocalMysql, startLocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool } from '../../src/db/pool.js';
import { type CreateChargeRequest, PaymentServiceClient } from '../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { startProviderSimulator } from '../../src/simulator/simulator.js';
import { compiledServer } from './compiled-server.js';

const ROOT = path.resolve(__dirname, '..', '..');
const CONCURRENCIES = [1, 64] as const;
const REQUEST: CreateChargeRequest = {
  amount: '1500',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: '',
  description: '',
  metadata: {},
  captureMethod: 0,
};
/** A whole slice of a busy 2-core machine; long enough for hundreds of calls even at concurrency 1. */
const DEFAULT_SLICE_MS = 1_000;
const DEFAULT_ROUNDS = 5;

type Method = 'get' | 'create';
type Variant = 'bare' | 'library';
type Call = () => Promise<unknown>;

interface Slice {
  calls: number;
  seconds: number;
  cpuMicros: number;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function startServer(args: string[]): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [...compiledServer('scripts/bench/throughput-server.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => resolve({ port: (JSON.parse(line) as { port: number }).port, child }));
  });
}

function bareCall(client: PaymentServiceClient, apiKey: string, method: Method, chargeId: string): Call {
  return () =>
    new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${apiKey}`);
      const done = (err: grpc.ServiceError | null): void => (err ? reject(err) : resolve(undefined));
      if (method === 'get') {
        client.getCharge({ chargeId }, md, done);
      } else {
        md.set('idempotency-key', randomUUID());
        client.createCharge(REQUEST, md, done);
      }
    });
}

function libraryCall(client: PaymentsClient, method: Method, chargeId: string): Call {
  return method === 'get' ? () => client.getCharge({ chargeId }) : () => client.createCharge(REQUEST);
}

/** Keeps `concurrency` calls in flight for `ms`, then waits for the last ones. */
async function slice(call: Call, concurrency: number, ms: number): Promise<Slice> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const until = started + ms;
  let calls = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      await call();
      calls++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(cpu);
  return { calls, seconds: (performance.now() - started) / 1000, cpuMicros: used.user + used.system };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' }, 'slice-ms': { type: 'string' } } });
  const rounds = values.quick ? 2 : Number(values.rounds ?? DEFAULT_ROUNDS);
  const sliceMs = values.quick ? 500 : Number(values['slice-ms'] ?? DEFAULT_SLICE_MS);

  let local: LocalMysql | undefined;
  let dataDir: string | undefined;
  let url = process.env['MYSQL_URL'];
  if (!url) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-client-db-'));
    log(`starting a private database in ${dataDir}`);
    local = await startLocalMysql({ dataDir });
    url = local.url;
  }
  const pool = createPool(url, 4);
  const sim = await startProviderSimulator();
  let server: { port: number; child: ChildProcess } | undefined;
  const lines: string[] = [];
  try {
    await migrate(pool);
    const { apiKey } = await new MerchantStore(pool).create(`bench-client-${randomUUID()}`);
    server = await startServer(['--mysql-url', url, '--provider-url', sim.url, '--provider-key', sim.secretKey]);
    const target = `127.0.0.1:${server.port}`;
    const bare = new PaymentServiceClient(target, grpc.credentials.createInsecure());
    const library = new PaymentsClient({ target, apiKey });
    const { response: seeded } = await library.createCharge(REQUEST);
    const calls: Record<Variant, Record<Method, Call>> = {
      bare: { get: bareCall(bare, apiKey, 'get', seeded.id), create: bareCall(bare, apiKey, 'create', seeded.id) },
      library: { get: libraryCall(library, 'get', seeded.id), create: libraryCall(library, 'create', seeded.id) },
    };

    lines.push(`client library vs bare generated client: ${rounds} rounds of ${sliceMs} ms slices, median of per-round ratios`, '');
    lines.push('method        conc   bare calls/s   library calls/s   library/bare   client CPU µs/call: bare   library');
    for (const method of ['get', 'create'] as const) {
      for (const concurrency of CONCURRENCIES) {
        // Warm both paths (connections, JIT) before measuring.
        await slice(calls.bare[method], concurrency, sliceMs / 2);
        await slice(calls.library[method], concurrency, sliceMs / 2);
        const results: Record<Variant, Slice[]> = { bare: [], library: [] };
        for (let round = 0; round < rounds; round++) {
          // Alternate which goes first so a drifting machine favours neither.
          const order: Variant[] = round % 2 === 0 ? ['bare', 'library'] : ['library', 'bare'];
          for (const variant of order) results[variant].push(await slice(calls[variant][method], concurrency, sliceMs));
        }
        const rate = (s: Slice): number => s.calls / s.seconds;
        const ratio = median(results.library.map((l, i) => rate(l) / rate(results.bare[i]!)));
        const cpu = (v: Variant): number => results[v].reduce((n, s) => n + s.cpuMicros, 0) / results[v].reduce((n, s) => n + s.calls, 0);
        const line = [
          (method === 'get' ? 'GetCharge' : 'CreateCharge').padEnd(12),
          String(concurrency).padStart(5),
          median(results.bare.map(rate)).toFixed(0).padStart(14),
          median(results.library.map(rate)).toFixed(0).padStart(18),
          `${ratio.toFixed(2)}x`.padStart(14),
          cpu('bare').toFixed(0).padStart(26),
          cpu('library').toFixed(0).padStart(9),
        ].join(' ');
        lines.push(line);
        log(line);
      }
    }
    bare.close();
    library.close();
  } finally {
    server?.child.kill('SIGTERM');
    await sim.close();
    await pool.end();
    await local?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  const out = path.join(ROOT, 'bench-results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'client-overhead.txt'), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
