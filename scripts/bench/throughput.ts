/**
 * Cost of exactly-once: throughput and latency of the idempotent CreateCharge
 * against its ceilings, at several concurrencies, in one run.
 *
 *   npm run bench:throughput [-- --duration-ms 5000 --concurrency 1,16,64,256 --quick]
 *
 * Server processes, the load generator (its own process), the provider
 * simulator and the database share this machine's cores.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { RowDataPacket } from 'mysql2';
import { startLocalMysql, type LocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { Charge, CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { startProviderSimulator } from '../../src/provider/simulator.js';
import { BENCH_CHARGE, type LoadPlan, type LoadResult, type Scenario } from './load-generator.js';

const ROOT = path.resolve(__dirname, '..', '..');
const REPLAY_KEYS = 1000;

interface BenchServer {
  port: number;
  countersPort: number;
  child: ChildProcess;
}

function log(message: string): void {
  process.stderr.write(`[bench:throughput] ${message}\n`);
}

function startBenchServer(args: string[]): Promise<BenchServer> {
  // BENCH_CPU_PROF=DIR writes a V8 CPU profile of each server process there (see README: where the time goes).
  const profile = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', process.env['BENCH_CPU_PROF']] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'scripts/bench/throughput-server.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      const { port, counters } = JSON.parse(line) as { port: number; counters: number };
      resolve({ port, countersPort: counters, child });
    });
  });
}

async function roundTrips(server: BenchServer): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${server.countersPort}/`);
  return ((await res.json()) as { roundTrips: number }).roundTrips;
}

async function dbStatus(pool: Pool): Promise<Record<string, number>> {
  const [rows] = await pool.query<RowDataPacket[]>("SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_commit', 'Innodb_os_log_fsyncs', 'Com_commit')");
  return Object.fromEntries(rows.map((r) => [String(r['Variable_name']), Number(r['Value'])]));
}

function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const file = path.join(os.tmpdir(), `load-plan-${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(plan));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/bench/load-generator.ts', file], { cwd: ROOT, maxBuffer: 1 << 20 }, (err, stdout) => {
      rmSync(file, { force: true });
      if (err) reject(err);
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as LoadResult);
    });
  });
}

/** Creates completed keys (for replays) and charges (for reads) through the idempotent server. */
async function seed(port: number, apiKey: string): Promise<{ keys: string[]; chargeIds: string[] }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const body = Buffer.from(CreateChargeRequest.encode(BENCH_CHARGE).finish());
  const keys = Array.from({ length: REPLAY_KEYS }, () => `seed-${randomUUID()}`);
  const chargeIds: string[] = [];
  for (let i = 0; i < keys.length; i += 50) {
    const batch = keys.slice(i, i + 50);
    const ids = await Promise.all(
      batch.map(
        (key) =>
          new Promise<string>((resolve, reject) => {
            const md = new grpc.Metadata();
            md.set('authorization', `Bearer ${apiKey}`);
            md.set('idempotency-key', key);
            client.makeUnaryRequest<Buffer, Buffer>('/payments.v1.PaymentService/CreateCharge', (b) => b, (b) => b, body, md, (err, res) =>
              err || !res ? reject(err ?? new Error('no response')) : resolve(Charge.decode(res).id),
            );
          }),
      ),
    );
    chargeIds.push(...ids);
  }
  client.close();
  return { keys, chargeIds };
}

function fmt(n: number, digits = 0): string {
  return n.toFixed(digits).padStart(8);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-ms': { type: 'string', default: '5000' },
      'warmup-ms': { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '1,16,64,256' },
      scenarios: { type: 'string', default: 'noop,create-plain,create-first,replay,get' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results/throughput.json' },
    },
  });
  const durationMs = values.quick ? 1000 : Number(values['duration-ms']);
  const warmupMs = values.quick ? 300 : Number(values['warmup-ms']);
  const concurrencies = (values.quick ? '1,64' : values.concurrency!).split(',').map(Number);

  let local: LocalMysql | undefined;
  let dataDir: string | undefined;
  let url = process.env['MYSQL_URL'];
  if (!url) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-throughput-db-'));
    log(`starting a private database in ${dataDir}`);
    local = await startLocalMysql({ dataDir });
    url = local.url;
  }
  const pool = createPool(url, 4);
  const servers: BenchServer[] = [];
  const sim = await startProviderSimulator();
  try {
    await migrate(pool);
    const { apiKey } = await new MerchantStore(pool).create(`bench-${randomUUID()}`);
    const common = ['--mysql-url', url, '--provider-url', sim.url, '--provider-key', sim.secretKey];
    const idempotent = await startBenchServer(common);
    const plain = await startBenchServer([...common, '--plain']);
    servers.push(idempotent, plain);
    log('seeding completed keys and charges');
    const { keys, chargeIds } = await seed(idempotent.port, apiKey);

    const scenarios: Array<{ scenario: Scenario; server: BenchServer; label: string }> = [
      { scenario: 'noop', server: idempotent, label: 'no-op unary (health Check)' },
      { scenario: 'create-plain', server: plain, label: 'CreateCharge, no interceptor' },
      { scenario: 'create-first', server: idempotent, label: 'CreateCharge, interceptor, first call' },
      { scenario: 'replay', server: idempotent, label: 'CreateCharge, replay' },
      { scenario: 'get', server: idempotent, label: 'GetCharge' },
    ];
    const wanted = new Set(values.scenarios!.split(','));
    const selected = scenarios.filter((s) => wanted.has(s.scenario));
    const results: Array<LoadResult & { label: string; roundTripsPerCall: number; commitsPerCall: number; fsyncsPerCall: number }> = [];
    for (const concurrency of concurrencies) {
      for (const s of selected) {
        log(`${s.label} at concurrency ${concurrency} (${durationMs} ms)`);
        const rt0 = await roundTrips(s.server);
        const db0 = await dbStatus(pool);
        const r = await runLoad({ port: s.server.port, scenario: s.scenario, concurrency, warmupMs, durationMs, apiKey, replayKeys: keys, chargeIds });
        const rt1 = await roundTrips(s.server);
        const db1 = await dbStatus(pool);
        // Counters cover warm-up and measurement; divide by every call made in both, approximated
        // by scaling the measured calls to the whole window.
        const callsInWindow = Math.max(1, r.calls * ((warmupMs + durationMs) / durationMs));
        results.push({
          ...r,
          label: s.label,
          roundTripsPerCall: (rt1 - rt0) / callsInWindow,
          commitsPerCall: ((db1['Handler_commit'] ?? 0) - (db0['Handler_commit'] ?? 0) - 2) / callsInWindow,
          fsyncsPerCall: ((db1['Innodb_os_log_fsyncs'] ?? 0) - (db0['Innodb_os_log_fsyncs'] ?? 0)) / callsInWindow,
        });
        const last = results.at(-1)!;
        log(`  ${fmt(last.throughput)} calls/s  p50 ${last.p50Ms.toFixed(2)} ms  p99 ${last.p99Ms.toFixed(2)} ms  errors ${last.errors}${last.firstError ? ` (${last.firstError})` : ''}`);
      }
    }

    const by = (scenario: Scenario, c: number): (typeof results)[number] | undefined => results.find((r) => r.scenario === scenario && r.concurrency === c);
    console.log('\nscenario                                conc   calls/s   p50 ms   p99 ms  DB round trips/call  Handler_commit/call');
    for (const r of results) {
      console.log(
        `${r.label.padEnd(40)}${String(r.concurrency).padStart(4)} ${fmt(r.throughput)} ${fmt(r.p50Ms, 2)} ${fmt(r.p99Ms, 2)} ${fmt(r.roundTripsPerCall, 2).padStart(20)} ${fmt(r.commitsPerCall, 2).padStart(20)}`,
      );
    }
    console.log('\nratios (same run)');
    const ratios: Array<Record<string, number>> = [];
    for (const c of concurrencies) {
      const first = by('create-first', c);
      const plainRow = by('create-plain', c);
      const replay = by('replay', c);
      const get = by('get', c);
      if (!first || !plainRow || !replay || !get) continue;
      const row = {
        concurrency: c,
        firstOverPlain: first.throughput / plainRow.throughput,
        replayOverGet: replay.throughput / get.throughput,
        firstP99OverPlainP99: first.p99Ms / plainRow.p99Ms,
      };
      ratios.push(row);
      console.log(
        `  concurrency ${String(c).padStart(3)}: first call / no interceptor = ${row.firstOverPlain.toFixed(2)}x (target >= 0.6 at 64)   replay / GetCharge = ${row.replayOverGet.toFixed(2)}x (target >= 1.0)   first p99 / no-interceptor p99 = ${row.firstP99OverPlainP99.toFixed(2)}x (target <= 2.5)`,
      );
    }
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(
      values.out!,
      JSON.stringify({ machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version }, durationMs, results, ratios }, null, 2),
    );
    console.log(`\nwrote ${values.out}`);
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await sim.close();
    await pool.end();
    await local?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
