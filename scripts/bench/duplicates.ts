/**
 * Duplicate-charge benchmark: `npm run bench:duplicates [-- options]`.
 *
 * Runs each idempotency strategy on several server processes that share one
 * database and one provider simulator, under the same load, and counts what
 * reached the provider:
 *
 *   check-then-insert    SELECT the key, charge, then INSERT the key (no unique index)
 *   in-memory-cache      a Map of in-flight promises per process
 *   redis-get-then-set   a shared Redis, GET then SET
 *   powertools-redis     @aws-lambda-powertools/idempotency with its Redis cache persistence layer
 *   node-idempotency-redis  @node-idempotency/core with its Redis storage adapter
 *   atomic-claim         the product: `src/main.ts` processes unchanged (atomic MySQL claim + fingerprint)
 *
 * The Redis rows use a `redis-server` the benchmark starts on a free port when
 * the machine has one, else BENCH_REDIS_URL (default 127.0.0.1:6379); they are
 * skipped with a note when no Redis answers. The peers are configured as their
 * documentation recommends (docs/benchmarks-peers.md).
 *
 * Load, per round: `--payments` (500) logical payments start at once, each with
 * its own idempotency key and a unique metadata.order_id. Each is double-tapped:
 * a client sends the same call twice over its one connection (so to the same
 * instance, `--taps-on same`), the second tap 0 to `--tap-gap-ms` (250) ms after
 * the first. Every call has a 10 % chance of a simulated network timeout (a
 * client deadline shorter than the provider latency: the client gives up while
 * the server goes on); after a timeout or a retryable error the client
 * reconnects and retries on the next instance with a small backoff, at most
 * MAX_ATTEMPTS times. `--tap-gap-ms 0 --taps-on other` is the worst case: both
 * taps at the same instant on two instances. The random choices come from a
 * seeded generator per (round, payment, tap, attempt), so every strategy gets
 * the same gaps, and the same timeouts on the same attempts.
 *
 * Faults, the same for every strategy: the provider charges and then drops the
 * connection on the first create request of 10 % of the payments (chosen from
 * the seed, by a proxy in front of the simulator); one instance is SIGKILLed
 * KILL_AFTER_MS into the strategy's middle round and started again; after each
 * round, REUSED_KEYS_PER_ROUND keys are sent again with another amount and
 * must be refused.
 *
 * Per strategy: duplicate charge rate (logical payments with more than one
 * PaymentIntent at the provider, counted by metadata.order_id), lost charges
 * (a client told "succeeded" whose PaymentIntent or charge row does not exist,
 * or a PaymentIntent without a charge row), mismatch rejections
 * (FAILED_PRECONDITION: identical retries refused), throughput (logical
 * payments/s over the rounds) and p50/p99 of a logical payment (first send to
 * the last tap's final answer), wrong answers (an OK answer whose charge is not
 * the provider's, or a failure answered for a payment the provider charged),
 * reused keys accepted, and the server processes' CPU per gRPC call. Lost now
 * also counts a payment charged at the provider that was never answered OK.
 * Exits non-zero when the product's row shows a duplicate or a lost charge;
 * the other rows' failures are findings, never a failed run.
 *
 * The parts live in duplicates/: the strategies (strategies.ts), the command
 * line (options.ts), the server processes (server-process.ts), the load
 * (workload.ts), the fault schedule (faults.ts), one strategy's run
 * (run-strategy.ts), its accounting (account.ts, settle.ts) and the report
 * (report.ts).
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type LocalMysql, startLocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool } from '../../src/db/pool.js';
import { startProviderSimulator } from '../../src/simulator/simulator.js';
import { startBenchRedis } from './bench-redis.js';
import type { StrategyResult } from './duplicates/account.js';
import { PROVIDER_LATENCIES_MS } from './duplicates/faults.js';
import { loopbackUrl, parseOptions, USAGE, UsageError } from './duplicates/options.js';
import { log, logStrategyResult, report } from './duplicates/report.js';
import { runStrategy } from './duplicates/run-strategy.js';
import { children, type SharedEnv, stopStartingServers } from './duplicates/server-process.js';
import { PRODUCT, REDIS_STRATEGIES, type Strategy } from './duplicates/strategies.js';
import { TIMEOUT_DEADLINE_MS, TIMEOUT_SHARE, tapsDescription } from './duplicates/workload.js';
import { createCheckThenInsertTable, dropCheckThenInsertTable } from './naive-check-then-insert.js';
import { connectRedis, DEFAULT_REDIS_URL, deleteRedisKeys, type Redis } from './naive-redis.js';
import { startProviderFaultProxy } from './provider-fault-proxy.js';

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return 0;
  const givenMysqlUrl = process.env['MYSQL_URL'] ? loopbackUrl('MYSQL_URL', process.env['MYSQL_URL']) : undefined;
  const givenRedisUrl = loopbackUrl('BENCH_REDIS_URL', process.env['BENCH_REDIS_URL'] ?? DEFAULT_REDIS_URL);
  const runStart = performance.now();
  const startedAt = new Date();
  const runId = randomBytes(4).toString('hex');
  const cleanups: Array<() => Promise<unknown>> = [];
  const runCleanups = async (): Promise<void> => {
    // Taken out of the list first, so a signal during the normal clean-up does not run one twice.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
  };
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    stopStartingServers();
    log('\ninterrupted: stopping servers and the database');
    for (const child of children) child.kill('SIGTERM');
    void runCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    log(
      `duplicate-charge benchmark: ${opts.strategies.join(', ')}; ${opts.rounds} rounds (naive strategies: ${opts.naiveRounds}) x ${opts.paymentsPerRound} logical payments, ` +
        `${opts.servers} servers per strategy, ${tapsDescription(opts)}, ${TIMEOUT_SHARE * 100} % timeouts (deadline ${TIMEOUT_DEADLINE_MS} ms), ` +
        `provider latency ${PROVIDER_LATENCIES_MS.join('/')} ms, seed ${opts.seed}`,
    );

    let mysqlUrl = givenMysqlUrl;
    let database = 'MYSQL_URL';
    if (!mysqlUrl) {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-duplicates-db-'));
      cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
      log('starting a private database (MYSQL_URL is not set)');
      const local: LocalMysql = await startLocalMysql({ dataDir });
      cleanups.push(() => local.stop());
      mysqlUrl = local.url;
      database = 'private MariaDB/MySQL started by the benchmark';
    }
    const pool = createPool(mysqlUrl);
    cleanups.push(() => pool.end());
    await migrate(pool);
    if (opts.strategies.includes('check-then-insert')) {
      await createCheckThenInsertTable(pool);
      cleanups.push(() => dropCheckThenInsertTable(pool));
    }

    // The simulator adds one abort listener to its shutdown signal per delayed
    // request; a round keeps ~1,000 of them pending, which is expected here
    // (without this Node warns of a listener leak at 11).
    setMaxListeners(4 * opts.paymentsPerRound);
    const sim = await startProviderSimulator();
    cleanups.push(() => sim.close());
    const proxy = await startProviderFaultProxy(sim.url);
    cleanups.push(() => proxy.close());

    const skipped: Array<{ strategy: Strategy; reason: string }> = [];
    const redisPrefix = `bench:duplicates:${runId}:`;
    let redisUrl = givenRedisUrl;
    let redisOrigin = 'none needed';
    if (opts.strategies.some((s) => REDIS_STRATEGIES.has(s))) {
      // Its own redis-server when the machine has one, so that nothing else shares it; else the given URL.
      try {
        const own = await startBenchRedis();
        cleanups.push(() => own.stop());
        redisUrl = own.url;
        redisOrigin = own.origin;
      } catch {
        redisOrigin = `${new URL(redisUrl).host} (BENCH_REDIS_URL or the default)`;
      }
      try {
        const client: Redis = await connectRedis(redisUrl);
        cleanups.push(async () => {
          await deleteRedisKeys(client, redisPrefix);
          await client.close();
        });
        log(`Redis: ${redisOrigin}`);
      } catch (err) {
        const reason = `no Redis answers on ${new URL(redisUrl).host} (${err instanceof Error ? err.message : String(err)})`;
        for (const strategy of opts.strategies.filter((s) => REDIS_STRATEGIES.has(s))) {
          skipped.push({ strategy, reason });
          log(`skipping ${strategy}: ${reason}`);
        }
      }
    }

    const env: SharedEnv = { mysqlUrl, pool, sim, proxy, redisUrl, redisPrefix };
    const results: StrategyResult[] = [];
    for (const strategy of opts.strategies) {
      if (skipped.some((s) => s.strategy === strategy)) continue;
      const result = await runStrategy(env, strategy, opts, runId);
      results.push(result);
      logStrategyResult(strategy, result);
    }

    const totalSeconds = (performance.now() - runStart) / 1000;
    await report({ opts, startedAt, totalSeconds, database, redisOrigin, results, skipped });

    const product = results.find((r) => r.strategy === PRODUCT);
    if (product && (product.duplicatePayments > 0 || product.lostCharges > 0)) {
      log(`FAIL: the product must show 0 duplicates and 0 lost charges; it shows ${product.duplicatePayments} and ${product.lostCharges}`);
      return 1;
    }
    return 0;
  } finally {
    await runCleanups();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    else process.stderr.write(`duplicate-charge benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    for (const child of children) child.kill('SIGKILL');
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
