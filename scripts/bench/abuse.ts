/**
 * Abuse benchmark (issue items 1 and 2), defended and undefended side by side in one run:
 *
 * 1. Unauthenticated flood. A load generator (its own process) sends calls with a new random
 *    API key each, as fast as it can. Printed: database statements per bad-key call (flood
 *    alone), and a legitimate client's CreateCharge p50/p99 and success rate idle and during
 *    the flood, with the ratio of the two p99s.
 * 2. Fairness. Merchant A keeps 10x the per-merchant limit of CreateCharge calls in flight
 *    (the provider answers in PROVIDER_LATENCY_MS, so calls pile up) while merchant B sends a
 *    few at a time. Printed: B's success rate and p99, and how A's calls ended.
 *
 * The undefended server looks every unknown key up in the database, has no limit per address
 * and none per merchant (scripts/bench/abuse-server.ts --undefended); the pool queue bound and
 * the stream limit stay on in both. Everything shares this machine's cores.
 *
 *   npm run bench:abuse [-- --duration-ms 5000 --limit 16]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startLocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool } from '../../src/db/pool.js';
import { type CreateChargeRequest, PaymentServiceClient } from '../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { startProviderSimulator } from '../../src/simulator/simulator.js';

const ROOT = path.resolve(__dirname, '..', '..');
/** A provider round trip of a realistic order of magnitude (Stripe: a few hundred ms), short enough for a quick run. */
const PROVIDER_LATENCY_MS = 50;
/** Legitimate client's calls in flight: a small, steady merchant. */
const LEGIT_CONCURRENCY = 4;
/** No call of the benchmark may hang it: one that takes longer counts as failed (DEADLINE_EXCEEDED). */
const CALL_DEADLINE_MS = 10_000;
const CHARGE: CreateChargeRequest = {
  amount: '1000',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: '',
  description: '',
  metadata: {},
  captureMethod: 0,
};

function log(message: string): void {
  process.stderr.write(`[bench:abuse] ${message}\n`);
}

interface Server {
  port: number;
  countersPort: number;
  child: ChildProcess;
}

function startServer(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/abuse-server.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      const { port, counters } = JSON.parse(line) as { port: number; counters: number };
      resolve({ port, countersPort: counters, child });
    });
  });
}

async function stopServer(s: Server): Promise<void> {
  s.child.removeAllListeners('exit');
  const exited = new Promise((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGTERM');
  await exited;
}

async function statements(s: Server): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${s.countersPort}/`);
  return ((await res.json()) as { statements: number }).statements;
}

/** Load generator processes of the flood: more than one only competes for the cores on a 2-core machine. */
const FLOOD_PROCESSES = 1;

type FloodResult = { calls: number; seconds: number; codes: Record<string, number> };

/** FLOOD_PROCESSES generators at once; their calls and codes summed, their durations averaged. */
async function flood(port: number, durationMs: number): Promise<FloodResult> {
  const parts = await Promise.all(Array.from({ length: FLOOD_PROCESSES }, () => floodProcess(port, durationMs)));
  const codes: Record<string, number> = {};
  for (const p of parts) for (const [code, n] of Object.entries(p.codes)) codes[code] = (codes[code] ?? 0) + n;
  return { calls: parts.reduce((n, p) => n + p.calls, 0), seconds: parts.reduce((n, p) => n + p.seconds, 0) / parts.length, codes };
}

function floodProcess(port: number, durationMs: number): Promise<FloodResult> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'scripts/bench/abuse-flood.ts', '--port', String(port), '--duration-ms', String(durationMs), '--concurrency', '128'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => code !== 0 && reject(new Error(`flood exited with ${code}`)));
    readline
      .createInterface({ input: child.stdout! })
      .once('line', (line) => resolve(JSON.parse(line) as { calls: number; seconds: number; codes: Record<string, number> }));
  });
}

interface Sample {
  ok: number;
  failed: number;
  codes: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** `concurrency` CreateCharge calls in flight with `apiKey` for `durationMs`, each on a new idempotency key. */
async function charges(client: PaymentServiceClient, apiKey: string, concurrency: number, durationMs: number): Promise<Sample> {
  const end = performance.now() + durationMs;
  const latencies: number[] = [];
  const codes: Record<string, number> = {};
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${apiKey}`);
      md.set('idempotency-key', randomUUID());
      const start = performance.now();
      const code = await new Promise<number>((resolve) =>
        client.createCharge(CHARGE, md, { deadline: Date.now() + CALL_DEADLINE_MS }, (err) => resolve(err ? err.code : 0)),
      );
      codes[code] = (codes[code] ?? 0) + 1;
      if (code === 0) latencies.push(performance.now() - start);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  latencies.sort((a, b) => a - b);
  return { ok: latencies.length, failed, codes, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');
const pct = (s: Sample): string => `${((100 * s.ok) / Math.max(1, s.ok + s.failed)).toFixed(1)}%`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'duration-ms': { type: 'string', default: '5000' }, limit: { type: 'string', default: '16' } } });
  const durationMs = Number(values['duration-ms']);
  const limit = Number(values.limit);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-abuse-db-'));
  const db = await startLocalMysql({ dataDir });
  const pool = createPool(db.url);
  const sim = await startProviderSimulator();
  const servers: Server[] = [];
  try {
    await migrate(pool);
    const merchants = new MerchantStore(pool);
    const legit = await merchants.create('bench-legit');
    const a = await merchants.create('bench-a');
    const b = await merchants.create('bench-b');
    // Some keys in the table, so a per-call lookup is an index probe on a real-sized tree.
    for (let i = 0; i < 200; i++) await merchants.create(`bench-filler-${i}`);
    const common = ['--mysql-url', db.url, '--provider-url', sim.url, '--provider-key', sim.secretKey];
    sim.faults.add({ kind: 'latency', ms: PROVIDER_LATENCY_MS, times: 'unlimited' });

    const lines: string[] = [];
    lines.push(
      `1. Unauthenticated flood (random API keys; legitimate CreateCharge at concurrency ${LEGIT_CONCURRENCY}, provider latency ${PROVIDER_LATENCY_MS} ms, ${durationMs} ms per phase)`,
    );
    lines.push('   server       | bad-key calls/s | statements per bad-key call | idle p50 / p99 ms | under flood p50 / p99 ms (success) | p99 ratio');
    for (const mode of ['undefended', 'defended'] as const) {
      log(`flood: ${mode}`);
      const server = await startServer(mode === 'undefended' ? [...common, '--undefended'] : common);
      servers.push(server);
      const client = new PaymentServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
      await charges(client, legit.apiKey, LEGIT_CONCURRENCY, 1000); // warm-up
      log('idle');
      const idle = await charges(client, legit.apiKey, LEGIT_CONCURRENCY, durationMs);
      const before = await statements(server);
      log('flood alone');
      const alone = await flood(server.port, durationMs);
      log('flood with legitimate calls');
      const perCall = ((await statements(server)) - before) / alone.calls;
      const [during, withLegit] = await Promise.all([flood(server.port, durationMs + 1000), charges(client, legit.apiKey, LEGIT_CONCURRENCY, durationMs)]);
      client.close();
      lines.push(
        `   ${mode.padEnd(12)} | ${f1(during.calls / during.seconds).padStart(15)} | ${perCall.toFixed(4).padStart(27)} | ${`${f1(idle.p50Ms)} / ${f1(idle.p99Ms)}`.padStart(17)} | ${`${f1(withLegit.p50Ms)} / ${f1(withLegit.p99Ms)} (${pct(withLegit)})`.padStart(34)} | ${(withLegit.p99Ms / idle.p99Ms).toFixed(2)}x`,
      );
      lines.push(`                  flood answers: ${JSON.stringify(alone.codes)} (codes: 16 UNAUTHENTICATED, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE)`);
      await stopServer(server);
      servers.pop();
    }

    lines.push('');
    lines.push(`2. Fairness: merchant A keeps ${10 * limit} CreateCharge calls in flight (10x a limit of ${limit}), merchant B ${LEGIT_CONCURRENCY}`);
    lines.push('   server                  | B success | B p50 / p99 ms | B alone p99 ms | A calls OK / refused (RESOURCE_EXHAUSTED) / other');
    for (const mode of ['undefended', 'defended'] as const) {
      log(`fairness: ${mode}`);
      const server = await startServer(mode === 'undefended' ? [...common, '--undefended'] : [...common, '--max-in-flight', String(limit)]);
      servers.push(server);
      const clientA = new PaymentServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), { 'bench.channel': 'a' });
      const clientB = new PaymentServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), { 'bench.channel': 'b' });
      await charges(clientB, b.apiKey, LEGIT_CONCURRENCY, 1000); // warm-up
      const alone = await charges(clientB, b.apiKey, LEGIT_CONCURRENCY, durationMs);
      const [sa, sb] = await Promise.all([charges(clientA, a.apiKey, 10 * limit, durationMs), charges(clientB, b.apiKey, LEGIT_CONCURRENCY, durationMs)]);
      clientA.close();
      clientB.close();
      const other = sa.failed - (sa.codes['8'] ?? 0);
      lines.push(
        `   ${(mode === 'defended' ? `limit ${limit} per merchant` : 'no limit').padEnd(23)} | ${pct(sb).padStart(9)} | ${`${f1(sb.p50Ms)} / ${f1(sb.p99Ms)}`.padStart(14)} | ${f1(alone.p99Ms).padStart(14)} | ${sa.ok} / ${sa.codes['8'] ?? 0} / ${other}`,
      );
      await stopServer(server);
      servers.pop();
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const s of servers) await stopServer(s);
    await sim.close();
    await pool.end();
    await db.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
