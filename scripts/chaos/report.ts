/**
 * What a chaos run prints: a progress line every few seconds while it runs, and
 * at the end one line per checker figure and a summary.
 */
import * as grpc from '@grpc/grpc-js';
import type { ChaosOptions } from './chaos-options.js';
import type { ChaosCounts } from './chaos-runner.js';
import type { CheckResult } from './checker.js';
import type { WorkloadProgress } from './workload.js';

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function retries(progress: WorkloadProgress): string {
  const parts = [...progress.retriesByCode].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${grpc.status[code] ?? code} ${n}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

export function progressLine(elapsedMs: number, total: number, progress: WorkloadProgress, counts: ChaosCounts, upInstances: number): string {
  return (
    `[${seconds(elapsedMs).padStart(7)}] payments done ${progress.done}/${total} (in flight ${progress.inFlight}, calls ${progress.attempts}); ` +
    `server kills ${counts.serverKills}, database kills ${counts.databaseKills}, zombie pauses ${counts.zombiePauses}, fault windows ${counts.faultWindows}; ` +
    `instances up ${upInstances}; retries: ${retries(progress)}`
  );
}

export interface RunTimes {
  totalMs: number;
  /** From the first payment to the last final answer (or give-up). */
  workloadMs: number;
  /** From "everything is back" to no row left in progress. */
  recoveryMs: number;
}

export function printResult(
  opts: ChaosOptions,
  result: CheckResult,
  counts: ChaosCounts,
  progress: WorkloadProgress,
  times: RunTimes,
  serverNotes: string[],
  /** Reasons to fail beyond the checker's figures. */
  failures: string[],
): void {
  say('');
  say('checker figures:');
  for (const f of result.figures) {
    const verdict = f.value <= f.limit ? 'ok' : 'FAIL';
    const bound = f.limit === 0 ? 'must be 0' : `limit ${f.limit}`;
    say(`  ${f.name.padEnd(18)} ${String(f.value).padStart(6)}   ${verdict} (${bound}): ${f.explanation}`);
    if (f.value > f.limit) for (const line of f.evidence) say(`      ${line}`);
  }
  for (const note of result.notes) say(`  ${note}`);
  if (counts.unexpectedExits.length > 0) say(`  server crashes (exits the run did not cause): ${counts.unexpectedExits.join('; ')}`);
  for (const skipped of counts.skipped) say(`  event not carried out: ${skipped}`);
  for (const note of serverNotes) say(`  ${note}`);
  for (const failure of failures) say(`FAIL: ${failure} (see above)`);
  say('');
  const perSecond = opts.payments / (times.workloadMs / 1000);
  say(
    `summary: ${result.passed && failures.length === 0 ? 'PASS' : 'FAIL'}; seed ${opts.seed}${opts.quick ? ' (--quick)' : ''}; duration ${seconds(times.totalMs)} ` +
      `(payments ${seconds(times.workloadMs)}, recovery ${seconds(times.recoveryMs)}); ${opts.payments} payments on ${opts.instances} instances ` +
      `(${perSecond.toFixed(1)} payments/s, ${progress.attempts} calls); server kills ${counts.serverKills}, database kills ${counts.databaseKills}, ` +
      `zombie pauses ${counts.zombiePauses}, provider fault windows ${counts.faultWindows}; ` +
      result.figures.map((f) => `${f.name} ${f.value}`).join(', '),
  );
  say(`repeat this schedule: npm run -s chaos -- --seed ${opts.seed}${opts.quick ? ' --quick' : ''} --payments ${opts.payments} --instances ${opts.instances}`);
}
