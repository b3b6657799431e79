/** What the run prints and the results files it writes (JSON and SVG under RESULTS_DIR). */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderDuplicatesChart } from '../chart.js';
import { round3, type StrategyResult } from './account.js';
import { CHARGE_THEN_DROP_SHARE, KILL_AFTER_MS, PROVIDER_LATENCIES_MS } from './faults.js';
import type { Options } from './options.js';
import { RESULTS_DIR, ROOT } from './paths.js';
import { DESIGN_NOTE, LABELS, PRODUCT, type Strategy } from './strategies.js';
import { CALL_DEADLINE_MS, MAX_ATTEMPTS, REUSED_KEYS_PER_ROUND, TIMEOUT_DEADLINE_MS, TIMEOUT_SHARE, tapsDescription } from './workload.js';

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Two decimals, three below 0.1 % so that a single duplicate in 100,000 does not print as 0.00. */
export function pct(value: number): string {
  return `${value.toFixed(value > 0 && value < 0.1 ? 3 : 2)} %`;
}

/** The printed table, one row per selected strategy in the order given; skipped ones say why below it. */
function table(order: readonly Strategy[], results: readonly StrategyResult[], skipped: ReadonlyArray<{ strategy: Strategy; reason: string }>): string {
  const header = [
    'strategy',
    'payments',
    'duplicates',
    'design note',
    'extra charges',
    'lost',
    'wrong answers',
    'reused keys accepted',
    'mismatch rej.',
    'unanswered',
    'payments/s',
    'p50 ms',
    'p99 ms',
    'CPU µs/call',
  ];
  const rows: string[][] = [];
  for (const strategy of order) {
    const r = results.find((x) => x.strategy === strategy);
    if (!r) {
      if (skipped.some((x) => x.strategy === strategy)) rows.push([LABELS[strategy], '-', 'skipped', DESIGN_NOTE[strategy], ...header.slice(4).map(() => '-')]);
      continue;
    }
    rows.push([
      r.label,
      r.logicalPayments.toLocaleString('en-US'),
      `${pct(r.duplicateRatePct)} (${r.duplicatePayments})`,
      r.designNote,
      String(r.extraCharges),
      String(r.lostCharges),
      String(r.wrongAnswers),
      `${r.reusedKeys.accepted}/${r.reusedKeys.sent}`,
      String(r.mismatchRejections),
      String(r.unansweredPayments),
      r.throughput.toFixed(0),
      r.p50Ms.toFixed(0),
      r.p99Ms.toFixed(0),
      String(r.cpuMicrosPerCall),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const notes = skipped.map((x) => `${LABELS[x.strategy]} skipped: ${x.reason}`);
  const product = results.find((r) => r.strategy === PRODUCT);
  if (product) {
    for (const peer of results.filter((r) => r.strategy === 'powertools-redis' || r.strategy === 'node-idempotency-redis')) {
      notes.push(
        `product vs ${peer.label}: throughput ${(product.throughput / peer.throughput).toFixed(2)}x, ` +
          `p99 ${(product.p99Ms / peer.p99Ms).toFixed(2)}x (below 1: the product's is shorter), CPU per call ${(product.cpuMicrosPerCall / Math.max(1, peer.cpuMicrosPerCall)).toFixed(2)}x`,
      );
    }
  }
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), ...notes].join('\n');
}

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
}

/** The two lines printed when a strategy is done: its figures, then where its failures happened. */
export function logStrategyResult(strategy: Strategy, result: StrategyResult): void {
  log(
    `[${strategy}] done in ${result.wallSeconds.toFixed(1)} s: duplicates ${pct(result.duplicateRatePct)}, lost ${result.lostCharges}, ` +
      `wrong answers ${result.wrongAnswers}, reused keys accepted ${result.reusedKeys.accepted}/${result.reusedKeys.sent}, ` +
      `mismatch rejections ${result.mismatchRejections}, unanswered ${result.unansweredPayments}, ${result.throughput.toFixed(0)} payments/s, ` +
      `${result.cpuMicrosPerCall} µs CPU/call, ${result.chargeThenDrops} charge-then-drops`,
  );
  const where = (a: { chargeThenDrop: number; killWindow: number; other: number }): string => `${a.chargeThenDrop}/${a.killWindow}/${a.other}`;
  const a = result.attribution;
  log(
    `[${strategy}] on charge-then-drop payments / in the kill window / elsewhere: duplicates ${where(a.duplicates)}, lost ${where(a.lost)}, ` +
      `unanswered ${where(a.unanswered)}, wrong answers ${where(a.wrongAnswers)}; answers that were not OK: ${JSON.stringify(result.errorsByCode)}`,
  );
}

/** The whole run, as printed at its end and written to RESULTS_DIR. */
export interface RunReport {
  opts: Options;
  startedAt: Date;
  totalSeconds: number;
  /** Where the database came from (MYSQL_URL or a private one). */
  database: string;
  /** Where the Redis came from. */
  redisOrigin: string;
  results: StrategyResult[];
  skipped: Array<{ strategy: Strategy; reason: string }>;
}

/** Prints the table and its legend, then writes the JSON and the SVG chart. */
export async function report(r: RunReport): Promise<void> {
  const { opts, results, skipped } = r;
  log(`\n${table(opts.strategies, results, skipped)}\n`);
  log(
    'duplicates: logical payments with more than one PaymentIntent at the provider (by metadata.order_id); ' +
      'lost: charged at the provider but never answered OK, told "succeeded" without a PaymentIntent or charge row, or a PaymentIntent without a charge row; ' +
      'wrong answers: an OK answer whose charge is not the provider\'s, or a tap whose last answer was a failure (not a timeout, not "in progress") for a payment the provider charged; ' +
      `reused keys accepted: a key sent again with another amount and answered OK; ` +
      "latency: first send to the last tap's final answer; CPU: the server processes' user + system time per gRPC call.",
  );
  log(`total run time ${r.totalSeconds.toFixed(1)} s`);

  const outDir = path.join(ROOT, RESULTS_DIR);
  mkdirSync(outDir, { recursive: true });
  const base = `duplicates-${timestamp()}`;
  const json = {
    benchmark: 'duplicates',
    startedAt: r.startedAt.toISOString(),
    totalSeconds: round3(r.totalSeconds),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
    },
    config: {
      rounds: opts.rounds,
      naiveRounds: opts.naiveRounds,
      paymentsPerRound: opts.paymentsPerRound,
      serversPerStrategy: opts.servers,
      seed: opts.seed,
      tapGapMaxMs: opts.tapGapMs,
      tapsOn: opts.tapsOn,
      timeoutShare: TIMEOUT_SHARE,
      timeoutDeadlineMs: TIMEOUT_DEADLINE_MS,
      callDeadlineMs: CALL_DEADLINE_MS,
      providerLatenciesMs: PROVIDER_LATENCIES_MS,
      maxAttempts: MAX_ATTEMPTS,
      chargeThenDropShare: CHARGE_THEN_DROP_SHARE,
      reusedKeysPerRound: REUSED_KEYS_PER_ROUND,
      kill: { instance: 0, round: 'middle (rounds / 2, rounded down, counted from 0)', afterMs: KILL_AFTER_MS },
      database: r.database,
      redis: r.redisOrigin,
    },
    results,
    skipped,
  };
  writeFileSync(path.join(outDir, `${base}.json`), `${JSON.stringify(json, null, 2)}\n`);
  const svg = await renderDuplicatesChart(
    results.map((x) => ({
      strategy: x.label,
      duplicateRatePct: x.duplicateRatePct,
      lostCharges: x.lostCharges,
      throughput: x.throughput,
      p50Ms: x.p50Ms,
      p99Ms: x.p99Ms,
    })),
    {
      title: 'Duplicate charges by idempotency strategy',
      subtitle: `${opts.rounds} rounds (naive: ${opts.naiveRounds}) x ${opts.paymentsPerRound} payments, ${tapsDescription(opts)}, ${TIMEOUT_SHARE * 100} % timeouts, ${opts.servers} servers per strategy, ${os.cpus().length} cores`,
    },
  );
  writeFileSync(path.join(outDir, `${base}.svg`), svg);
  log(`wrote ${RESULTS_DIR}/${base}.json and ${RESULTS_DIR}/${base}.svg`);
}
