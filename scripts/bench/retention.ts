/**
 * Retention under sustained load: first calls at the service's maximum rate (a closed loop of
 * `--concurrency` calls, each with a new key) against one server whose keys live `--ttl-seconds`
 * and whose reaper runs every `--reaper-interval-ms` (±50 %). It shows that
 *   - the idempotency table's row count stays bounded: the reaper deletes as fast as keys expire.
 *     Its count is sampled every second and held against what a reaper that keeps up leaves:
 *     the keys of the calls that ended within the last TTL + the longest pause between passes
 *     + twice the longest pass, plus the calls in flight. The rate of this shared box drifts (by 2x in
 *     a 10-minute run), so the bound follows the calls actually made, not a mean rate;
 *   - claims' p99 while a reaper pass runs stays within 1.5x of p99 between passes. A call is
 *     "during" a pass if it started while a pass that deleted rows ran. (Classifying by overlap
 *     instead is length-biased: a slow call overlaps more passes because it is slow, which
 *     inflates the "during" p99 even if passes cost nothing; that figure is printed too.)
 *
 *   npm run -s bench:retention                      (10 minutes, TTL 10 s, a pass every 5 s on average)
 *   npm run -s bench:retention -- --quick           (CI-sized: 40 s, TTL 5 s, a pass every 2 s)
 *   [--duration-s 600 --ttl-seconds 10 --reaper-interval-ms 5000 --concurrency 64 --out bench-results/retention.json]
 *   [--reaper-batch N]   an experiment: the service's reaper with N rows per DELETE instead of the server's 500
 *
 * The TTL is far below what the service accepts in production (IDEMPOTENCY_KEY_TTL_SECONDS is at
 * least 10 minutes): a short TTL makes the reaper's steady state arrive within the run, and its
 * work per pass is that of any TTL at the same call rate. The server, the database, the provider
 * simulator and this process (the load) share the machine's cores.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { RowDataPacket } from 'mysql2';
import { startLocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool } from '../../src/db/pool.js';
import { CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { startProviderSimulator } from '../../src/simulator/simulator.js';
import { BENCH_CHARGE } from './load-generator.js';
import { ROOT } from './load-generator-process.js';
import type { ReaperPass } from './retention-server.js';

/** Row count sampling period. */
const SAMPLE_MS = 1000;
/** Deadline of one call: far above any latency seen here, so a slow call is measured, not dropped. */
const CALL_DEADLINE_MS = 30_000;
/** Slack on the row bound for the time the count itself takes and the clocks' granularity. */
const ROW_BOUND_SLACK = 1.05;
/** Goal: p99 of claims during reaper passes over p99 between passes. */
const MAX_P99_RATIO = 1.5;

function log(message: string): void {
  process.stderr.write(`[bench:retention] ${message}\n`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function startRetentionServer(args: string[]): Promise<{ port: number; passesPort: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/retention-server.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`retention server exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      const { port, passes } = JSON.parse(line) as { port: number; passes: number };
      resolve({ port, passesPort: passes, child });
    });
  });
}

interface Call {
  startMs: number;
  endMs: number;
  ok: boolean;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-s': { type: 'string' },
      'ttl-seconds': { type: 'string' },
      'reaper-interval-ms': { type: 'string' },
      'reaper-batch': { type: 'string' },
      concurrency: { type: 'string', default: '64' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results/retention.json' },
    },
  });
  const durationS = Number(values['duration-s'] ?? (values.quick ? 40 : 600));
  const ttlSeconds = Number(values['ttl-seconds'] ?? (values.quick ? 5 : 10));
  const reaperIntervalMs = Number(values['reaper-interval-ms'] ?? (values.quick ? 2000 : 5000));
  const concurrency = Number(values.concurrency);

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-retention-db-'));
  const local = await startLocalMysql({ dataDir });
  const pool = createPool(local.url, 2);
  const sim = await startProviderSimulator();
  let server: ChildProcess | undefined;
  try {
    await migrate(pool);
    const { apiKey } = await new MerchantStore(pool).create(`bench-${randomUUID()}`);
    const started = await startRetentionServer([
      '--mysql-url',
      local.url,
      '--provider-url',
      sim.url,
      '--provider-key',
      sim.secretKey,
      '--ttl-seconds',
      String(ttlSeconds),
      '--reaper-interval-ms',
      String(reaperIntervalMs),
      ...(values['reaper-batch'] !== undefined ? ['--reaper-batch', values['reaper-batch']] : []),
    ]);
    server = started.child;
    log(`soak: ${durationS} s of first calls at concurrency ${concurrency}, TTL ${ttlSeconds} s, a reaper pass every ${reaperIntervalMs} ms ±50 %`);

    const client = new grpc.Client(`127.0.0.1:${started.port}`, grpc.credentials.createInsecure());
    const body = Buffer.from(CreateChargeRequest.encode(BENCH_CHARGE).finish());
    const now = (): number => performance.timeOrigin + performance.now();
    const calls: Call[] = [];
    let firstError: string | undefined;
    const endAt = now() + durationS * 1000;
    const worker = async (): Promise<void> => {
      while (now() < endAt) {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${apiKey}`);
        md.set('idempotency-key', randomUUID());
        const startMs = now();
        const err = await new Promise<grpc.ServiceError | null>((resolve) =>
          client.makeUnaryRequest<Buffer, Buffer>(
            '/payments.v1.PaymentService/CreateCharge',
            (b) => b,
            (b) => b,
            body,
            md,
            { deadline: Date.now() + CALL_DEADLINE_MS },
            (e) => resolve(e),
          ),
        );
        calls.push({ startMs, endMs: now(), ok: err === null });
        if (err) firstError ??= `${err.code} ${err.details}`;
      }
    };
    const samples: Array<{ atMs: number; rows: number }> = [];
    const sampler = (async () => {
      while (now() < endAt) {
        await delay(SAMPLE_MS);
        const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM idempotency_keys');
        samples.push({ atMs: now(), rows: Number(rows[0]!['n']) });
        if (samples.length % 30 === 0)
          log(`  ${Math.round((samples.at(-1)!.atMs - (endAt - durationS * 1000)) / 1000)} s: ${samples.at(-1)!.rows} rows, ${calls.length} calls`);
      }
    })();
    await Promise.all([...Array.from({ length: concurrency }, () => worker()), sampler]);
    client.close();
    const passes = (await (await fetch(`http://127.0.0.1:${started.passesPort}/`)).json()) as ReaperPass[];

    const startMs = endAt - durationS * 1000;
    const rate = calls.filter((c) => c.ok).length / durationS;
    const deleting = passes.filter((p) => p.deleted > 0);
    const steadyFrom = deleting[0]?.startMs ?? endAt;
    const steady = calls.filter((c) => c.ok && c.startMs >= steadyFrom);
    const startedIn = (c: Call): boolean => deleting.some((p) => c.startMs >= p.startMs && c.startMs <= p.endMs);
    const overlaps = (c: Call): boolean => deleting.some((p) => c.startMs <= p.endMs && c.endMs >= p.startMs);
    const latencies = (xs: Call[]): number[] => xs.map((c) => c.endMs - c.startMs).sort((a, b) => a - b);
    const during = latencies(steady.filter(startedIn));
    const between = latencies(steady.filter((c) => !startedIn(c)));
    const p99During = percentile(during, 99);
    const p99Between = percentile(between, 99);
    const overlapDuring = latencies(steady.filter(overlaps));
    const overlapBetween = latencies(steady.filter((c) => !overlaps(c)));
    const overlapRatio = percentile(overlapDuring, 99) / percentile(overlapBetween, 99);
    const longestPauseMs = Math.max(0, ...passes.slice(1).map((p, i) => p.startMs - passes[i]!.endMs));
    const longestPassMs = Math.max(0, ...passes.map((p) => p.endMs - p.startMs));
    // A key expiring just after a pass's last DELETE began waits for that pass to end, the pause,
    // and the next pass's batches before it: TTL + pause + two passes at most.
    const windowMs = ttlSeconds * 1000 + longestPauseMs + 2 * longestPassMs;
    // What a reaper that keeps up leaves at time t: keys of calls that ended in (t - window, t],
    // plus the calls in flight (at most `concurrency`).
    const ends = calls.map((c) => c.endMs).sort((x, y) => x - y);
    const endedBy = (t: number): number => {
      let lo = 0;
      let hi = ends.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ends[mid]! <= t) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const checked = samples.map((x) => ({ ...x, allowed: endedBy(x.atMs) - endedBy(x.atMs - windowMs) + concurrency }));
    // Before the first window has passed every key is still live and the share is trivially 1.
    const steadySamples = checked.filter((x) => x.atMs >= startMs + windowMs);
    const worst = steadySamples.reduce((w, x) => (x.rows / x.allowed > w.rows / w.allowed ? x : w), steadySamples[0] ?? { atMs: 0, rows: 0, allowed: 1 });
    const peak = Math.max(0, ...samples.map((x) => x.rows));
    const bounded = checked.every((x) => x.rows <= x.allowed * ROW_BOUND_SLACK);
    const passMs = deleting.map((p) => p.endMs - p.startMs).sort((a, b) => a - b);
    const deletedTotal = deleting.reduce((n, p) => n + p.deleted, 0);
    const errors = calls.filter((c) => !c.ok).length;
    const p99Ratio = p99During / p99Between;

    console.log(
      `\nretention: ${durationS} s at concurrency ${concurrency}, TTL ${ttlSeconds} s, reaper every ${reaperIntervalMs} ms ±50 % (batches of ${values['reaper-batch'] ?? 500} rows)`,
    );
    console.log(
      `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), shared with the database, the server, the provider simulator and the load`,
    );
    console.log(`  first calls: ${calls.length} (${rate.toFixed(0)}/s), errors ${errors}${firstError ? ` (${firstError})` : ''}`);
    console.log(
      `  reaper: ${deleting.length} passes deleted ${deletedTotal} rows; a pass took p50 ${percentile(passMs, 50).toFixed(0)} ms, max ${(passMs.at(-1) ?? 0).toFixed(0)} ms`,
    );
    console.log(`  idempotency_keys rows: peak ${peak}, at the end ${samples.at(-1)?.rows ?? 0}`);
    console.log(
      `  against what a reaper that keeps up leaves (keys of the calls that ended in the last TTL + longest pause ${(longestPauseMs / 1000).toFixed(1)} s + 2 x longest pass ${(longestPassMs / 1000).toFixed(1)} s, + calls in flight): ` +
        `highest share once keys expire ${(worst.rows / worst.allowed).toFixed(2)} (${worst.rows} of ${worst.allowed} at ${((worst.atMs - startMs) / 1000).toFixed(0)} s) -> ${bounded ? 'bounded: the reaper keeps up' : 'NOT BOUNDED: the reaper falls behind'}`,
    );
    console.log(
      `  claim p99 of calls started during reaper passes ${p99During.toFixed(2)} ms (${during.length} calls), started between passes ${p99Between.toFixed(2)} ms (${between.length} calls): ratio ${p99Ratio.toFixed(2)}x [goal <= ${MAX_P99_RATIO}]`,
    );
    console.log(
      `  (by overlap, length-biased: ${percentile(overlapDuring, 99).toFixed(2)} ms (${overlapDuring.length} calls) / ${percentile(overlapBetween, 99).toFixed(2)} ms (${overlapBetween.length} calls) = ${overlapRatio.toFixed(2)}x)`,
    );
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(
      values.out!,
      JSON.stringify(
        {
          machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
          durationS,
          ttlSeconds,
          reaperIntervalMs,
          concurrency,
          calls: calls.length,
          rate,
          errors,
          firstError,
          rows: {
            peak,
            bounded,
            windowMs,
            worstShare: worst.rows / worst.allowed,
            samples: checked.map((x) => ({ atS: (x.atMs - startMs) / 1000, rows: x.rows, allowed: x.allowed })),
          },
          passes: passes.map((p) => ({ atS: (p.startMs - startMs) / 1000, ms: p.endMs - p.startMs, deleted: p.deleted })),
          reaper: { passes: deleting.length, deleted: deletedTotal, passMsP50: percentile(passMs, 50), passMsMax: passMs.at(-1) ?? 0 },
          p99: { duringMs: p99During, duringCalls: during.length, betweenMs: p99Between, betweenCalls: between.length, ratio: p99Ratio, overlapRatio },
        },
        null,
        2,
      ),
    );
    console.log(`\nwrote ${values.out}`);
    if (errors > 0 || !bounded || deleting.length === 0) process.exitCode = 1;
  } finally {
    server?.kill('SIGTERM');
    await sim.close();
    await pool.end();
    await local.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
