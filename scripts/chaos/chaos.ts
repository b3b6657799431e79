/**
 * `npm run -s chaos [-- --seed N --quick --payments N --instances N]`: a seeded
 * chaos run with a checker (docs/chaos.md).
 *
 *   1. a private MariaDB, the provider simulator and N `src/main.ts` processes on 127.0.0.1;
 *   2. payments paced over the chaos window while the schedule kills servers, kills the
 *      database, pauses one server past its lease and opens provider fault windows;
 *   3. recovery: everything back, faults cleared, until no key is left in progress;
 *   4. every finished payment asked once more; then the checker compares provider, database
 *      and answers, and the exit code says whether every must-be-zero figure is 0.
 */
import { rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { type LocalMysql, startLocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool } from '../../src/db/pool.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { parseChaosOptions, USAGE, UsageError } from './chaos-options.js';
import { ChaosRunner } from './chaos-runner.js';
import { check } from './checker.js';
import { killAllChildren, startSimulatorProcess } from './child-processes.js';
import { countKeyStates, readSnapshot } from './database-snapshot.js';
import { describeCounts } from './idempotency-metrics.js';
import { summarizeServerLogs } from './log-summary.js';
import { PaymentClients } from './payment-client.js';
import { ProviderControl } from './provider-control.js';
import { printResult, progressLine, say } from './report.js';
import { buildSchedule, describeEvent } from './schedule.js';
import { ServerFleet } from './server-fleet.js';
import { LEASE_SECONDS, serviceEnv } from './service-env.js';
import { PAYMENT_DEADLINE_MS, planPayments, VERIFY_DEADLINE_MS, Workload } from './workload.js';

/** One progress line this often. */
const PROGRESS_INTERVAL_MS = 5_000;
/**
 * Recovery must end with no key in progress within this long: a lease (5 s), a completer
 * pass (about 1 s) and the resumed call itself, many times over for a busy machine.
 */
const RECOVERY_DEADLINE_MS = 120_000;
const RECOVERY_POLL_MS = 500;
/**
 * Beyond the chaos window, the last payment's deadline, recovery and verification, the whole
 * run gets this long for start-up, restarts and reading the sources before it stops itself.
 */
const RUN_MARGIN_MS = 300_000;

async function waitForNoKeyInProgress(pool: ReturnType<typeof createPool>, merchantId: string): Promise<number> {
  const deadline = Date.now() + RECOVERY_DEADLINE_MS;
  for (;;) {
    const inProgress = (await countKeyStates(pool, merchantId)).get('in_progress') ?? 0;
    if (inProgress === 0 || Date.now() >= deadline) return inProgress;
    await delay(RECOVERY_POLL_MS);
  }
}

/** What the exit hook must still remove if the run dies before its own clean-up (an uncaught exception). */
const leftovers: { tmp: string | undefined; database: LocalMysql | undefined } = { tmp: undefined, database: undefined };

/** Synchronous, for the exit hook: no server, database or temp dir outlives the run. */
function removeLeftovers(): void {
  killAllChildren();
  if (leftovers.database !== undefined) {
    try {
      process.kill(leftovers.database.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (leftovers.tmp !== undefined) rmSync(leftovers.tmp, { recursive: true, force: true });
}

async function main(): Promise<number> {
  const opts = parseChaosOptions(process.argv.slice(2));
  if (!opts) return 0;
  const keepLogs = process.env['CHAOS_KEEP_LOGS'];
  const runStart = Date.now();
  const cleanups: Array<() => Promise<unknown>> = [];
  const runCleanups = async (): Promise<void> => {
    // Taken out of the list first, so a signal during the normal clean-up does not run one twice.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((err: unknown) => say(`cleanup failed: ${String(err)}`));
  };
  let runner: ChaosRunner | undefined;
  let interrupted = false;
  const onSignal = (signal: string): void => {
    if (interrupted) return;
    interrupted = true;
    say(`\n${signal}: stopping every process this run started`);
    runner?.stop();
    killAllChildren();
    void runCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('exit', removeLeftovers);
  process.on('uncaughtException', (err) => {
    process.stderr.write(`chaos run failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });

  // Every phase is bounded on its own; this bounds their sum, in case one bound is missed.
  const runBoundMs = opts.chaosWindowMs + PAYMENT_DEADLINE_MS + RECOVERY_DEADLINE_MS + VERIFY_DEADLINE_MS + RUN_MARGIN_MS;
  setTimeout(() => {
    say(`FAIL: the run did not end within ${runBoundMs / 1000} s; stopping`);
    process.exit(1);
  }, runBoundMs).unref();

  try {
    const schedule = buildSchedule(opts);
    say(
      `chaos run: seed ${opts.seed}${opts.seedDrawn ? ' (drawn; pass --seed to repeat)' : ''}, ${opts.payments} payments over ${opts.chaosWindowMs / 1000} s, ` +
        `${opts.instances} instances, lease ${LEASE_SECONDS} s${opts.quick ? ', --quick' : ''}`,
    );
    say('schedule:');
    for (const event of schedule) say(`  ${describeEvent(event)}`);

    const tmp = await mkdtemp(path.join(os.tmpdir(), 'chaos-'));
    leftovers.tmp = tmp;
    cleanups.push(async () => {
      await rm(tmp, { recursive: true, force: true });
      leftovers.tmp = undefined;
    });
    const logDir = path.join(tmp, 'logs');
    await mkdir(logDir);
    if (keepLogs) cleanups.push(() => cp(logDir, path.resolve(keepLogs), { recursive: true }).then(() => say(`logs copied to ${keepLogs}`)));

    say('starting a private database, the provider simulator and the servers');
    const database: LocalMysql = await startLocalMysql({ dataDir: path.join(tmp, 'db') });
    leftovers.database = database;
    cleanups.push(async () => {
      await database.kill('SIGKILL');
      leftovers.database = undefined;
    });
    const setupPool = createPool(database.url, 2);
    await migrate(setupPool);
    const merchant = await new MerchantStore(setupPool).create('chaos run');
    await setupPool.end();

    const simulator = await startSimulatorProcess(path.join(logDir, 'simulator.log'));
    cleanups.push(() => simulator.stop());
    const provider = new ProviderControl(simulator.url, simulator.secretKey);

    let runnerRef: ChaosRunner | undefined;
    const fleet = await ServerFleet.start(opts.instances, serviceEnv(database.url, simulator.url, simulator.secretKey), logDir, {
      onUnexpectedExit: (instance, how) => {
        runnerRef?.counts.unexpectedExits.push(`server ${instance} ended (${how})`);
        say(`server ${instance} ended by itself (${how}): restarting it; this is reported as a crash`);
      },
    });
    cleanups.push(() => fleet.close());
    runner = new ChaosRunner(fleet, database, provider, (line) => say(`  ${line}`));
    runnerRef = runner;
    const chaos = runner;

    const clients = new PaymentClients(fleet.ports(), merchant.apiKey);
    cleanups.push(async () => clients.close());
    const workload = new Workload(planPayments(opts.seed, opts.payments, opts.instances, opts.chaosWindowMs), clients, opts.seed);

    say(`ready after ${((Date.now() - runStart) / 1000).toFixed(1)} s; payments and chaos start now`);
    const workloadStart = Date.now();
    const progress = setInterval(
      () => say(progressLine(Date.now() - workloadStart, opts.payments, workload.progress, chaos.counts, fleet.countIn('up'))),
      PROGRESS_INTERVAL_MS,
    );
    cleanups.push(async () => clearInterval(progress));
    let workloadEnd = 0;
    await Promise.all([workload.run().then(() => (workloadEnd = Date.now())), chaos.run(schedule, workloadStart)]);
    clearInterval(progress);
    say(progressLine(Date.now() - workloadStart, opts.payments, workload.progress, chaos.counts, fleet.countIn('up')));

    const recoveryStart = Date.now();
    await provider.clearFaults();
    await fleet.allUp();
    const pool = createPool(database.url, 4);
    cleanups.push(() => pool.end());
    const leftToRecovery = (await countKeyStates(pool, merchant.merchantId)).get('in_progress') ?? 0;
    say(`recovery: every instance up, provider faults cleared; ${leftToRecovery} keys in progress, waiting for none`);
    const left = await waitForNoKeyInProgress(pool, merchant.merchantId);
    const recoveryMs = Date.now() - recoveryStart;
    say(left === 0 ? `no key in progress after ${(recoveryMs / 1000).toFixed(1)} s` : `${left} keys still in progress after ${RECOVERY_DEADLINE_MS / 1000} s`);

    say('verification: asking once more for every payment that got a final answer');
    await workload.verify();
    // Nothing may write while the sources are read: the servers go first.
    await fleet.close();
    const snapshot = await readSnapshot(pool, merchant.merchantId);
    const intents = await provider.paymentIntents();
    const result = check(workload.records, intents, snapshot);
    const serverNotes = [
      `keys in progress when the payments ended (left to recovery): ${leftToRecovery}`,
      `server idempotency events (all instances, all lives): ${describeCounts(fleet.idempotencyEvents)}`,
      ...(await summarizeServerLogs(logDir)),
    ];
    // A server that ended by itself is a crash of the service; a schedule not carried out
    // means the faults did not all happen, and a pass would prove less than it says.
    const failures = [
      ...(chaos.counts.unexpectedExits.length > 0 ? ['a server ended without being killed'] : []),
      ...(chaos.counts.skipped.length > 0 ? ['part of the schedule was not carried out'] : []),
    ];
    const times = { totalMs: Date.now() - runStart, workloadMs: workloadEnd - workloadStart, recoveryMs };
    printResult(opts, result, chaos.counts, workload.progress, times, serverNotes, failures);
    return result.passed && failures.length === 0 ? 0 : 1;
  } finally {
    await runCleanups();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    else process.stderr.write(`chaos run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    killAllChildren();
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
