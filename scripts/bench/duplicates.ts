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
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { RowDataPacket } from 'mysql2';
import { startLocalMysql, type LocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { CaptureMethod, PaymentServiceClient, type Charge, type CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import type { PaymentIntent } from '../../src/provider/provider-types.js';
import { startProviderSimulator, type ProviderSimulator } from '../../src/simulator/simulator.js';
import { renderDuplicatesChart } from './chart.js';
import { createCheckThenInsertTable, dropCheckThenInsertTable } from './naive-check-then-insert.js';
import { isNaiveStrategy } from './naive-key-store.js';
import { connectRedis, DEFAULT_REDIS_URL, deleteRedisKeys, type Redis } from './naive-redis.js';
import { startBenchRedis } from './bench-redis.js';
import { isPeerStrategy } from './peer-idempotency.js';
import { startProviderFaultProxy, type ProviderFaultProxy } from './provider-fault-proxy.js';

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS_DIR = 'bench-results';

// ---------------------------------------------------------------------------------------------
// Load and timing constants

/** The design note's load: 500 concurrent logical payments per round. */
const DEFAULT_PAYMENTS_PER_ROUND = 500;
/**
 * Defaults sized for the 2-core box (servers, database, simulator and load
 * share the cores). The product (atomic claim) runs 200 rounds = 100,000
 * logical payments; measured there alone: 4 min 50 s. The naive strategies
 * run the same load per round but fewer rounds: their duplicate rates are
 * tens of percent, so 10,000 payments each pin them down, and a round of the
 * three takes about 4 s. The whole default run measured about 7 minutes.
 */
const DEFAULT_ROUNDS = 200;
const DEFAULT_NAIVE_ROUNDS = 20;
/** For CI: enough rounds to see every strategy race, well under a minute in all. */
const QUICK_ROUNDS = 2;
const DEFAULT_SERVERS = 2;
const DEFAULT_SEED = 20_240_518;
/**
 * Longest gap between the two taps of a double tap; each gap is drawn
 * uniformly from 0 to this (an assumption for a person tapping twice, not a
 * measured figure). A second tap that arrives while the first call is still
 * running is what lets a naive strategy race itself.
 */
const DEFAULT_TAP_GAP_MS = 250;
const TAPS_ON = ['same', 'other'] as const;
type TapsOn = (typeof TAPS_ON)[number];
/** Share of calls that meet a simulated network timeout. */
const TIMEOUT_SHARE = 0.1;
/**
 * Provider latency, one of these per PaymentIntent request (about a third
 * each): a card network round trip is tens of ms, and it is what keeps a first
 * call in flight long enough for its duplicates to race it.
 */
const PROVIDER_LATENCIES_MS = [20, 35, 50] as const;
/**
 * The deadline of a call that "times out": no longer than the shortest
 * provider latency, so a call that reached the provider is always given up by
 * the client before the provider answers, while the server goes on.
 */
const TIMEOUT_DEADLINE_MS = PROVIDER_LATENCIES_MS[0];
/**
 * Deadline of every other call: above the product's 10 s in-flight wait
 * (IDEMPOTENCY_WAIT_MS), so a duplicate that waits hears ABORTED, never a
 * client-side timeout.
 */
const CALL_DEADLINE_MS = 15_000;
/** Attempts per tap (first call + retries); a client that never gets an answer gives up after these. */
const MAX_ATTEMPTS = 8;
/** Retry backoff: 10, 20, 40 ... ms (capped), plus up to 50 % jitter. */
const BACKOFF_BASE_MS = 10;
const BACKOFF_MAX_MS = 320;
/** Codes after which a client retries with the same key (the outcome is unknown or "try again"). */
const RETRYABLE_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNAVAILABLE,
  grpc.status.ABORTED,
  grpc.status.CANCELLED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
]);
/**
 * Share of logical payments whose first create request the provider charges
 * and then leaves unanswered (the connection drops): the server cannot tell a
 * charge from no charge. Chosen per payment from the seed, so every strategy
 * meets it on the same payments.
 */
const CHARGE_THEN_DROP_SHARE = 0.1;
/**
 * Keys reused with another amount per round (1 % of the default round), sent
 * once the round's payments are answered, to the instance that did not serve
 * the payment. They must be refused; they are not part of the timed round.
 */
const REUSED_KEYS_PER_ROUND = 5;
/** Amount of a reused key's call: not the amount its key was first used with. */
const REUSED_AMOUNT = '2999';
/**
 * One instance (the first) is SIGKILLed in each strategy's middle round, this
 * long after the round's payments started (a provider call takes 20-50 ms, so
 * first calls, retries and double taps are in flight), then started again.
 */
const KILL_AFTER_MS = 200;
/** Charges per instance before the rounds, so JIT and connection set-up are not measured. */
const WARMUP_CHARGES_PER_SERVER = 20;
/**
 * After the last round, servers may still finish calls their clients gave up
 * on. The run is settled once neither the provider nor the charges table has
 * changed for QUIET_MS (longer than the slowest provider call plus its writes).
 */
const QUIET_MS = 500;
const SETTLE_POLL_MS = 50;
const SETTLE_DEADLINE_MS = 30_000;
/** tsx compiles on start; a cold start on a busy 2-core machine takes a few seconds. */
const SERVER_START_TIMEOUT_MS = 60_000;
/** Graceful stop of a server: it has no calls left by then, so this only bounds a wedged one. */
const SERVER_STOP_TIMEOUT_MS = 30_000;
/** Lines of a server's output kept to explain a failure. */
const SERVER_LOG_TAIL_LINES = 30;

/** What the design note this product comes from claims, for the table. */
const DESIGN_NOTE: Record<Strategy, string> = {
  'check-then-insert': '18.4 %',
  'in-memory-cache': '4.2 %',
  'redis-get-then-set': '-',
  'powertools-redis': '-',
  'node-idempotency-redis': '-',
  'atomic-claim': '< 0.01 %',
};

const STRATEGIES = ['check-then-insert', 'in-memory-cache', 'redis-get-then-set', 'powertools-redis', 'node-idempotency-redis', 'atomic-claim'] as const;
type Strategy = (typeof STRATEGIES)[number];
const PRODUCT: Strategy = 'atomic-claim';

const LABELS: Record<Strategy, string> = {
  'check-then-insert': 'check-then-insert',
  'in-memory-cache': 'in-memory cache',
  'redis-get-then-set': 'Redis GET-then-SET',
  'powertools-redis': 'Powertools idempotency + Redis',
  'node-idempotency-redis': '@node-idempotency/core + Redis',
  'atomic-claim': 'atomic claim + fingerprint',
};

/** The strategies that need a Redis; skipped together when none can be had. */
const REDIS_STRATEGIES: ReadonlySet<Strategy> = new Set(['redis-get-then-set', 'powertools-redis', 'node-idempotency-redis']);

// ---------------------------------------------------------------------------------------------
// Command line

interface Options {
  /** Rounds of the product's strategy (atomic claim). */
  rounds: number;
  /** Rounds of each naive strategy (same load per round). */
  naiveRounds: number;
  paymentsPerRound: number;
  servers: number;
  strategies: Strategy[];
  seed: number;
  /** Longest gap between the two taps of a payment. */
  tapGapMs: number;
  /** Whether a payment's two taps go to its client's instance, or to two different instances. */
  tapsOn: TapsOn;
  quick: boolean;
}

const USAGE = `Usage: npm run bench:duplicates -- [options]

  --rounds N          rounds of the product's atomic claim (default ${DEFAULT_ROUNDS}: ${(DEFAULT_ROUNDS * DEFAULT_PAYMENTS_PER_ROUND).toLocaleString('en-US')} logical payments)
  --naive-rounds N    rounds of each naive strategy and each peer library, same load per round
                      (default ${DEFAULT_NAIVE_ROUNDS}; the whole default run takes 10 to 30 min on 2 cores,
                      depending on what else runs there)
  --quick             ${QUICK_ROUNDS} rounds, for CI
  --strategies a,b    any of ${STRATEGIES.join(', ')} (default: all)
  --servers N         server processes per strategy, at least 2 (default ${DEFAULT_SERVERS})
  --payments N        logical payments per round (default ${DEFAULT_PAYMENTS_PER_ROUND})
  --seed N            seed of the load's random choices (default ${DEFAULT_SEED})
  --tap-gap-ms N      the second tap of a payment follows the first after 0 to N ms (default ${DEFAULT_TAP_GAP_MS})
  --taps-on same|other  both taps go over the client's one connection to one instance (same,
                      the default), or each to a different instance (other); retries after a
                      timeout always reconnect to the next instance
                      (--tap-gap-ms 0 --taps-on other: the worst case, both taps at once)

Uses MYSQL_URL (loopback only) when set (the benchmark then writes merchants and charges
there), otherwise starts a private MariaDB/MySQL and removes it at the end.
The Redis strategies use their own redis-server when the machine has one, else
${DEFAULT_REDIS_URL} (BENCH_REDIS_URL, loopback only); they are skipped with a
note when no Redis answers.
Writes ${RESULTS_DIR}/duplicates-<time>.json and .svg.`;

class UsageError extends Error {
  override name = 'UsageError';
}

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) throw new UsageError(`--${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      'naive-rounds': { type: 'string' },
      quick: { type: 'boolean', default: false },
      strategies: { type: 'string' },
      servers: { type: 'string' },
      payments: { type: 'string' },
      seed: { type: 'string' },
      'tap-gap-ms': { type: 'string' },
      'taps-on': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return undefined;
  }
  const quick = values.quick ?? false;
  const rounds = positiveInteger('rounds', values.rounds, quick ? QUICK_ROUNDS : DEFAULT_ROUNDS);
  const servers = positiveInteger('servers', values.servers, DEFAULT_SERVERS);
  if (servers < 2) throw new UsageError('--servers must be at least 2: duplicates race across instances');
  const strategies: Strategy[] = [];
  for (const name of (values.strategies ?? STRATEGIES.join(',')).split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const strategy = STRATEGIES.find((s) => s === name);
    if (strategy === undefined) throw new UsageError(`unknown strategy "${name}"; choose from ${STRATEGIES.join(', ')}`);
    if (!strategies.includes(strategy)) strategies.push(strategy);
  }
  if (strategies.length === 0) throw new UsageError('--strategies names no strategy');
  const tapsOn = TAPS_ON.find((t) => t === (values['taps-on'] ?? 'same'));
  if (tapsOn === undefined) throw new UsageError(`--taps-on must be one of ${TAPS_ON.join(', ')}, got "${values['taps-on']}"`);
  const tapGap = values['tap-gap-ms'] ?? String(DEFAULT_TAP_GAP_MS);
  if (!/^[0-9]+$/.test(tapGap) || Number(tapGap) > 10_000) throw new UsageError(`--tap-gap-ms must be an integer from 0 to 10000, got "${tapGap}"`);
  return {
    rounds,
    naiveRounds: positiveInteger('naive-rounds', values['naive-rounds'], quick ? QUICK_ROUNDS : DEFAULT_NAIVE_ROUNDS),
    paymentsPerRound: positiveInteger('payments', values.payments, DEFAULT_PAYMENTS_PER_ROUND),
    servers,
    strategies,
    seed: positiveInteger('seed', values.seed, DEFAULT_SEED),
    tapGapMs: Number(tapGap),
    tapsOn,
    quick,
  };
}

// ---------------------------------------------------------------------------------------------
// Server processes

interface ServerProcess {
  port: number;
  /** SIGTERM, then SIGKILL if it is still there after SERVER_STOP_TIMEOUT_MS; resolves once it exited. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or an OOM kill would; resolves once it exited. */
  kill(): Promise<void>;
  /** User + system CPU seconds the process has used so far (0 once it is gone). */
  cpuSeconds(): number;
  logTail(): string;
  /** Log lines at warn level or above, counted by message. */
  warnings(): Map<string, number>;
}

/** Linux reports process CPU time in clock ticks; 100 per second on every mainstream kernel build. */
const CLOCK_TICKS_PER_SECOND = 100;
/** pino's numeric level of `warn`. */
const WARN_LEVEL = 40;

/** utime + stime of a live process, from /proc (the benchmark runs on Linux; elsewhere CPU is reported as 0). */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Every child this run started, so that a crash or Ctrl-C of the benchmark does not leave one behind. */
const children = new Set<ChildProcess>();
/** Set on Ctrl-C/SIGTERM: no server is started (or restarted after the kill) from then on. */
let shuttingDown = false;

function startServerProcess(args: string[], env: Record<string, string>): Promise<ServerProcess> {
  if (shuttingDown) return Promise.reject(new Error('the benchmark is stopping'));
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, PAYMENTS_LISTEN: '127.0.0.1:0', METRICS_LISTEN: '127.0.0.1:0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const tail: string[] = [];
  const warnings = new Map<string, number>();
  const keep = (line: string): void => {
    tail.push(line);
    if (tail.length > SERVER_LOG_TAIL_LINES) tail.shift();
  };
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), SERVER_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  const cpuSeconds = (): number => (child.exitCode !== null || child.signalCode !== null ? 0 : processCpuSeconds(child.pid));
  const logTail = (): string => tail.join('\n');
  if (child.stderr) readline.createInterface({ input: child.stderr }).on('line', keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${args.join(' ')} did not start listening within ${SERVER_START_TIMEOUT_MS} ms:\n${logTail()}`));
    }, SERVER_START_TIMEOUT_MS);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server ${args.join(' ')} exited before listening:\n${logTail()}`));
    });
    if (!child.stdout) throw new Error('no stdout pipe');
    // The stream is read to its end, not only up to the port: a full pipe would block the server.
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line);
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof entry === 'object' && entry !== null && 'level' in entry && typeof entry.level === 'number' && entry.level >= WARN_LEVEL) {
        const msg = 'msg' in entry ? String(entry.msg) : '(no message)';
        warnings.set(msg, (warnings.get(msg) ?? 0) + 1);
      }
      if (typeof entry === 'object' && entry !== null && 'msg' in entry && entry.msg === 'payments gRPC server listening' && 'port' in entry) {
        clearTimeout(timer);
        resolve({ port: Number(entry.port), stop, kill, cpuSeconds, logTail, warnings: () => warnings });
      }
    });
  });
}

interface SharedEnv {
  mysqlUrl: string;
  pool: Pool;
  sim: ProviderSimulator;
  /** Between the servers and the simulator: drops the connection after a charge on chosen first attempts. */
  proxy: ProviderFaultProxy;
  redisUrl: string;
  redisPrefix: string;
}

function startStrategyServer(strategy: Strategy, env: SharedEnv): Promise<ServerProcess> {
  const common = { MYSQL_URL: env.mysqlUrl, PAYMENTS_PROVIDER_URL: env.proxy.url, PAYMENTS_PROVIDER_SECRET_KEY: env.sim.secretKey };
  // One merchant's whole load goes to two instances: the per-merchant fairness limit (which no
  // other row has) would refuse most of it and measure the limit, not the exactly-once layer.
  if (strategy === PRODUCT) return startServerProcess(['src/main.ts'], { ...common, PAYMENTS_MAX_IN_FLIGHT_PER_MERCHANT: '1000000' });
  if (!isNaiveStrategy(strategy) && !isPeerStrategy(strategy)) throw new Error(`no server for strategy ${strategy}`);
  return startServerProcess(['scripts/bench/duplicates-server.ts', '--strategy', strategy], {
    ...common,
    BENCH_REDIS_URL: env.redisUrl,
    BENCH_REDIS_PREFIX: env.redisPrefix,
  });
}

// ---------------------------------------------------------------------------------------------
// The load

/** mulberry32: small, fast and good enough to draw timeouts and jitter reproducibly. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One random stream per tap, identical for every strategy. */
function tapRandom(seed: number, round: number, payment: number, tap: number): () => number {
  return seededRandom(Math.imul(seed, 0x9e3779b1) ^ Math.imul(round + 1, 0x85ebca6b) ^ Math.imul(payment + 1, 0xc2b2ae35) ^ Math.imul(tap + 1, 0x27d4eb2f));
}

function providerLatency(sim: ProviderSimulator): void {
  // The first latency fault that matches and passes its probability applies: 1/3, then 1/2 of the rest, then the rest.
  PROVIDER_LATENCIES_MS.forEach((ms, i) => {
    const left = PROVIDER_LATENCIES_MS.length - i;
    sim.faults.add({
      kind: 'latency',
      ms,
      times: 'unlimited',
      match: { pathPrefix: '/v1/payment_intents' },
      ...(left > 1 ? { probability: 1 / left } : {}),
    });
  });
}

interface CallResult {
  code: grpc.status;
  charge?: Charge;
}

function createCharge(client: PaymentServiceClient, request: CreateChargeRequest, apiKey: string, idempotencyKey: string, deadlineMs: number): Promise<CallResult> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${apiKey}`);
  md.set('idempotency-key', idempotencyKey);
  return new Promise((resolve) => {
    client.createCharge(request, md, { deadline: Date.now() + deadlineMs }, (err, charge) => {
      resolve(err ? { code: err.code } : { code: grpc.status.OK, charge });
    });
  });
}

type TapOutcome =
  | { kind: 'ok'; chargeId: string; providerReference: string; amount: string }
  | { kind: 'mismatch' }
  | { kind: 'error'; code: grpc.status }
  | { kind: 'gave_up'; lastCode: grpc.status };

interface TapRun {
  outcome: TapOutcome;
  calls: number;
  timeouts: number;
}

interface PaymentRun {
  orderId: string;
  latencyMs: number;
  taps: TapRun[];
}

interface LoadContext {
  clients: PaymentServiceClient[];
  apiKey: string;
  seed: number;
  tapGapMs: number;
  tapsOn: TapsOn;
  /** Makes keys and order ids unique per strategy and run. */
  tag: string;
}

/** The amount of every payment (a reused key's call uses REUSED_AMOUNT). */
const PAYMENT_AMOUNT = '1999';

function chargeRequest(orderId: string, amount: string = PAYMENT_AMOUNT): CreateChargeRequest {
  return {
    amount,
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: 'cus_bench_duplicates',
    description: 'duplicate-charge benchmark',
    metadata: { order_id: orderId },
    captureMethod: CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
  };
}

/** One tap: the first call, then retries on the next instance until an answer or MAX_ATTEMPTS. */
async function runTap(ctx: LoadContext, request: CreateChargeRequest, key: string, firstInstance: number, random: () => number): Promise<TapRun> {
  let instance = firstInstance;
  let timeouts = 0;
  let lastCode: grpc.status = grpc.status.OK;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    // Exactly two draws per attempt (timeout, jitter), so attempt k uses the same numbers in every strategy.
    const timesOut = random() < TIMEOUT_SHARE;
    const jitter = random();
    const client = ctx.clients[instance];
    if (!client) throw new Error(`no client for instance ${instance}`);
    if (timesOut) timeouts += 1;
    const result = await createCharge(client, request, ctx.apiKey, key, timesOut ? TIMEOUT_DEADLINE_MS : CALL_DEADLINE_MS);
    if (result.code === grpc.status.OK && result.charge) {
      return { outcome: { kind: 'ok', chargeId: result.charge.id, providerReference: result.charge.providerReference, amount: result.charge.amount }, calls: attempt, timeouts };
    }
    if (result.code === grpc.status.FAILED_PRECONDITION) return { outcome: { kind: 'mismatch' }, calls: attempt, timeouts };
    if (!RETRYABLE_CODES.has(result.code)) return { outcome: { kind: 'error', code: result.code }, calls: attempt, timeouts };
    lastCode = result.code;
    if (attempt === MAX_ATTEMPTS) break;
    instance = (instance + 1) % ctx.clients.length;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    await delay(backoff * (1 + jitter / 2));
  }
  return { outcome: { kind: 'gave_up', lastCode }, calls: MAX_ATTEMPTS, timeouts };
}

/** A double tap: the same call twice, the second after a drawn gap; done when both taps have their final answer. */
async function runPayment(ctx: LoadContext, round: number, index: number, paymentsPerRound: number): Promise<PaymentRun> {
  const orderId = `${ctx.tag}-r${round}-p${index}`;
  const key = `dup-${orderId}`;
  const request = chargeRequest(orderId);
  // The client's connection: payments are spread over the instances as a balancer would.
  const home = (round * paymentsPerRound + index) % ctx.clients.length;
  // Its own random stream (tap 2), so the taps' timeout and jitter draws do not depend on the gap.
  const gapMs = ctx.tapGapMs * tapRandom(ctx.seed, round, index, 2)();
  const started = performance.now();
  const taps = await Promise.all(
    [0, 1].map(async (tap) => {
      if (tap === 1 && gapMs > 0) await delay(gapMs);
      const instance = ctx.tapsOn === 'same' ? home : (home + tap) % ctx.clients.length;
      return runTap(ctx, request, key, instance, tapRandom(ctx.seed, round, index, tap));
    }),
  );
  return { orderId, latencyMs: performance.now() - started, taps };
}

/**
 * After a round: a few of its keys are sent again with another amount, to the
 * instance that did not serve the payment first. Anything but a refusal is a
 * reused key accepted.
 */
async function reuseKeys(ctx: LoadContext, round: number, paymentsPerRound: number): Promise<TapOutcome[]> {
  const count = Math.min(REUSED_KEYS_PER_ROUND, paymentsPerRound);
  const step = Math.max(1, Math.floor(paymentsPerRound / count));
  return Promise.all(
    Array.from({ length: count }, async (_, k) => {
      const index = k * step;
      const orderId = `${ctx.tag}-r${round}-p${index}`;
      const other = ((round * paymentsPerRound + index) % ctx.clients.length + 1) % ctx.clients.length;
      const run = await runTap(ctx, chargeRequest(orderId, REUSED_AMOUNT), `dup-${orderId}`, other, tapRandom(ctx.seed, round, index, 3));
      return run.outcome;
    }),
  );
}

/** FNV-1a of a string: the payment's part of the charge-then-drop draw. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Whether the provider drops the connection after charging this payment's first request; the same payments for every strategy. */
function dropsFirstCharge(seed: number, tag: string, orderId: string): boolean {
  if (!orderId.startsWith(tag) || orderId.includes('-warmup-')) return false;
  return seededRandom(seed ^ fnv1a(orderId.slice(tag.length)))() < CHARGE_THEN_DROP_SHARE;
}

async function warmUp(ctx: LoadContext): Promise<void> {
  await Promise.all(
    ctx.clients.map((client, instance) =>
      Promise.all(
        Array.from({ length: WARMUP_CHARGES_PER_SERVER }, (_, i) => {
          const orderId = `${ctx.tag}-warmup-${instance}-${i}`;
          return createCharge(client, chargeRequest(orderId), ctx.apiKey, `dup-${orderId}`, CALL_DEADLINE_MS);
        }),
      ),
    ),
  );
}

function tapsDescription(opts: Pick<Options, 'tapGapMs' | 'tapsOn'>): string {
  const where = opts.tapsOn === 'same' ? 'one instance' : 'two instances';
  return opts.tapGapMs > 0 ? `double taps 0-${opts.tapGapMs} ms apart on ${where}` : `double taps at once on ${where}`;
}

// ---------------------------------------------------------------------------------------------
// Accounting

/** Figures in the JSON keep a millisecond's thousandth at most. */
function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

interface RoundFigures {
  round: number;
  seconds: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
  timeouts: number;
}

interface StrategyResult {
  strategy: Strategy;
  label: string;
  designNote: string;
  logicalPayments: number;
  duplicatePayments: number;
  duplicateRatePct: number;
  /** PaymentIntents at the provider for the benchmark's logical payments. */
  paymentIntents: number;
  /** Logical payments with no PaymentIntent at all. */
  uncharged: number;
  /** PaymentIntents beyond the first of each logical payment. */
  extraCharges: number;
  /** Logical payments lost: charged at the provider but never answered OK, or an answer/row/PaymentIntent missing its counterpart. */
  lostCharges: number;
  lost: {
    chargedNeverAnsweredOk: number;
    succeededWithoutPaymentIntent: number;
    succeededWithoutChargeRow: number;
    paymentIntentWithoutChargeRow: number;
  };
  /** OK answers whose charge is not the provider's (unknown PaymentIntent, other amount), and taps whose last answer was a failure (see answeredFailure) for a payment the provider charged. */
  wrongAnswers: number;
  wrong: { okWithOtherCharge: number; failureForChargedPayment: number };
  reusedKeys: { sent: number; accepted: number; refused: number; otherFailures: number; charged: number };
  /** Server processes' CPU (user + system) over the rounds, per gRPC call the clients made. */
  cpuMicrosPerCall: number;
  serverCpuSeconds: number;
  /** The SIGKILL of one instance: when, and how long until its replacement listened (rounds counted from 1). */
  kill: { round: number; afterMs: number; restartMs: number; listeningAgainInRound: number } | undefined;
  /**
   * Where the failures happened: on the payments whose first charge was
   * dropped, on the other payments of the rounds from the kill until the
   * replacement listened, or elsewhere.
   */
  attribution: Record<'duplicates' | 'lost' | 'unanswered' | 'wrongAnswers', { chargeThenDrop: number; killWindow: number; other: number }>;
  /** First create requests the provider charged and then left unanswered. */
  chargeThenDrops: number;
  /** Server log lines at warn level or above, by message, over every instance of the strategy. */
  serverWarnings: Record<string, number>;
  mismatchRejections: number;
  /** Logical payments whose client got no successful answer (every tap failed or gave up). */
  unansweredPayments: number;
  /** Logical payments whose two taps were told about two different charges. */
  inconsistentAnswers: number;
  errorsByCode: Record<string, number>;
  calls: number;
  simulatedTimeouts: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  roundSeconds: number;
  wallSeconds: number;
  rounds: RoundFigures[];
}

/**
 * A tap whose last answer was a failure the server gave (not silence, not "in
 * progress, retry later"): a definitive error, a mismatch refusal, or a
 * retryable failure (UNAVAILABLE, INTERNAL...) still answered on the last
 * attempt. For a payment the provider charged, that answer is wrong.
 */
function answeredFailure(o: TapOutcome): boolean {
  if (o.kind === 'mismatch' || o.kind === 'error') return true;
  return o.kind === 'gave_up' && o.lastCode !== grpc.status.DEADLINE_EXCEEDED && o.lastCode !== grpc.status.ABORTED && o.lastCode !== grpc.status.CANCELLED;
}

/** Everything one strategy's rounds produced, folded in as they finish. */
class StrategyAccount {
  private readonly intentsByOrder = new Map<string, string[]>();
  private readonly intentById = new Map<string, { amount: number; status: string }>();
  private readonly answered = new Map<string, Array<{ chargeId: string; providerReference: string; amount: string }>>();
  /** Taps that ended on a definitive failure (not a retryable code), by order. */
  private readonly failedTaps = new Map<string, number>();
  private readonly reuse = { sent: 0, accepted: 0, refused: 0, otherFailures: 0, charged: 0 };
  private readonly unansweredOrders: string[] = [];
  private readonly latencies: number[] = [];
  private readonly errors = new Map<string, number>();
  private duplicates = 0;
  private extra = 0;
  private mismatches = 0;
  private unanswered = 0;
  private inconsistent = 0;
  calls = 0;
  timeouts = 0;
  readonly rounds: RoundFigures[] = [];

  constructor(
    private readonly prefix: string,
    private readonly logicalPayments: number,
  ) {}

  /** PaymentIntents of this strategy's orders (warm-up ones are ignored). */
  addIntents(intents: readonly PaymentIntent[]): void {
    for (const intent of intents) {
      const orderId = intent.metadata['order_id'];
      if (orderId === undefined || !orderId.startsWith(this.prefix) || orderId.includes('-warmup-')) continue;
      if (String(intent.amount) === REUSED_AMOUNT) {
        // A reused key's call that was charged: counted with the reused keys, not as the payment's duplicate.
        this.reuse.charged += 1;
        continue;
      }
      this.intentById.set(intent.id, { amount: intent.amount, status: intent.status });
      const ids = this.intentsByOrder.get(orderId);
      if (ids === undefined) {
        this.intentsByOrder.set(orderId, [intent.id]);
        continue;
      }
      ids.push(intent.id);
      this.extra += 1;
      if (ids.length === 2) this.duplicates += 1;
    }
  }

  addRound(round: number, seconds: number, runs: readonly PaymentRun[]): RoundFigures {
    let calls = 0;
    let timeouts = 0;
    for (const run of runs) {
      this.latencies.push(run.latencyMs);
      const oks: Array<{ chargeId: string; providerReference: string; amount: string }> = [];
      for (const tap of run.taps) {
        calls += tap.calls;
        timeouts += tap.timeouts;
        const o = tap.outcome;
        if (answeredFailure(o)) this.failedTaps.set(run.orderId, (this.failedTaps.get(run.orderId) ?? 0) + 1);
        if (o.kind === 'ok') oks.push({ chargeId: o.chargeId, providerReference: o.providerReference, amount: o.amount });
        else if (o.kind === 'mismatch') this.mismatches += 1;
        else {
          const name = grpc.status[o.kind === 'error' ? o.code : o.lastCode] ?? 'UNKNOWN';
          const label = o.kind === 'gave_up' ? `gave up after ${name}` : name;
          this.errors.set(label, (this.errors.get(label) ?? 0) + 1);
        }
      }
      if (oks.length === 0) {
        this.unanswered += 1;
        this.unansweredOrders.push(run.orderId);
      }
      else this.answered.set(run.orderId, oks);
      if (new Set(oks.map((o) => o.chargeId)).size > 1) this.inconsistent += 1;
    }
    this.calls += calls;
    this.timeouts += timeouts;
    const sorted = Float64Array.from(runs.map((r) => r.latencyMs)).sort();
    const figures: RoundFigures = {
      round,
      seconds: round3(seconds),
      throughput: round3(runs.length / seconds),
      p50Ms: round3(percentile(sorted, 50)),
      p99Ms: round3(percentile(sorted, 99)),
      calls,
      timeouts,
    };
    this.rounds.push(figures);
    return figures;
  }

  addReuse(outcomes: readonly TapOutcome[], calls: number): void {
    this.calls += calls;
    for (const o of outcomes) {
      this.reuse.sent += 1;
      if (o.kind === 'ok') this.reuse.accepted += 1;
      else if (o.kind === 'mismatch') this.reuse.refused += 1;
      else this.reuse.otherFailures += 1;
    }
  }

  get duplicatesSoFar(): number {
    return this.duplicates;
  }

  result(strategy: Strategy, charges: ReadonlyMap<string, string>, wallSeconds: number, run: RunFacts): StrategyResult {
    const chargeRefs = new Set(charges.values());
    const intentIds = new Set<string>();
    const lostOrders = new Set<string>();
    let intentWithoutRow = 0;
    let intents = 0;
    for (const [orderId, ids] of this.intentsByOrder) {
      for (const id of ids) {
        intents += 1;
        intentIds.add(id);
        if (!chargeRefs.has(id)) {
          intentWithoutRow += 1;
          lostOrders.add(orderId);
        }
      }
    }
    let withoutIntent = 0;
    let withoutRow = 0;
    let neverOk = 0;
    let okWithOtherCharge = 0;
    let failureForCharged = 0;
    const wrongByOrder = new Map<string, number>();
    const noteWrong = (orderId: string, n: number): void => {
      if (n > 0) wrongByOrder.set(orderId, (wrongByOrder.get(orderId) ?? 0) + n);
    };
    for (const [orderId, ids] of this.intentsByOrder) {
      const charged = ids.some((id) => this.intentById.get(id)?.status === 'succeeded');
      if (!this.answered.has(orderId)) {
        neverOk += 1;
        lostOrders.add(orderId);
      }
      if (charged) {
        failureForCharged += this.failedTaps.get(orderId) ?? 0;
        noteWrong(orderId, this.failedTaps.get(orderId) ?? 0);
      }
    }
    for (const [orderId, oks] of this.answered) {
      const ids = this.intentsByOrder.get(orderId) ?? [];
      for (const ok of oks) {
        const intent = ids.includes(ok.providerReference) ? this.intentById.get(ok.providerReference) : undefined;
        if (intent === undefined || String(intent.amount) !== ok.amount) {
          okWithOtherCharge += 1;
          noteWrong(orderId, 1);
        }
        if (!intentIds.has(ok.providerReference)) {
          withoutIntent += 1;
          lostOrders.add(orderId);
        }
        if (charges.get(ok.chargeId) !== ok.providerReference) {
          withoutRow += 1;
          lostOrders.add(orderId);
        }
      }
    }
    const sorted = Float64Array.from(this.latencies).sort();
    const roundSeconds = this.rounds.reduce((sum, r) => sum + r.seconds, 0);
    const kill = run.kill;
    const roundOf = (orderId: string): number => Number(/-r(\d+)-p\d+$/.exec(orderId)?.[1] ?? -1) + 1;
    const place = (orderId: string): 'chargeThenDrop' | 'killWindow' | 'other' => {
      if (run.droppedOrders.has(orderId)) return 'chargeThenDrop';
      const r = roundOf(orderId);
      return kill !== undefined && r >= kill.round && r <= kill.listeningAgainInRound ? 'killWindow' : 'other';
    };
    const tally = (orders: Iterable<[string, number]>): { chargeThenDrop: number; killWindow: number; other: number } => {
      const out = { chargeThenDrop: 0, killWindow: 0, other: 0 };
      for (const [orderId, n] of orders) out[place(orderId)] += n;
      return out;
    };
    const duplicated = [...this.intentsByOrder].filter(([, ids]) => ids.length > 1).map(([o]): [string, number] => [o, 1]);
    const attribution = {
      duplicates: tally(duplicated),
      lost: tally([...lostOrders].map((o): [string, number] => [o, 1])),
      unanswered: tally(this.unansweredOrders.map((o): [string, number] => [o, 1])),
      wrongAnswers: tally(wrongByOrder),
    };
    return {
      strategy,
      label: LABELS[strategy],
      designNote: DESIGN_NOTE[strategy],
      logicalPayments: this.logicalPayments,
      duplicatePayments: this.duplicates,
      duplicateRatePct: round3((100 * this.duplicates) / this.logicalPayments),
      paymentIntents: intents,
      uncharged: this.logicalPayments - this.intentsByOrder.size,
      extraCharges: this.extra,
      lostCharges: lostOrders.size,
      lost: { chargedNeverAnsweredOk: neverOk, succeededWithoutPaymentIntent: withoutIntent, succeededWithoutChargeRow: withoutRow, paymentIntentWithoutChargeRow: intentWithoutRow },
      wrongAnswers: okWithOtherCharge + failureForCharged,
      wrong: { okWithOtherCharge, failureForChargedPayment: failureForCharged },
      reusedKeys: { ...this.reuse },
      cpuMicrosPerCall: this.calls > 0 ? Math.round((run.serverCpuSeconds * 1e6) / this.calls) : 0,
      serverCpuSeconds: round3(run.serverCpuSeconds),
      kill: run.kill,
      chargeThenDrops: run.chargeThenDrops,
      serverWarnings: run.serverWarnings,
      attribution,
      mismatchRejections: this.mismatches,
      unansweredPayments: this.unanswered,
      inconsistentAnswers: this.inconsistent,
      errorsByCode: Object.fromEntries(this.errors),
      calls: this.calls,
      simulatedTimeouts: this.timeouts,
      throughput: round3(this.logicalPayments / roundSeconds),
      p50Ms: round3(percentile(sorted, 50)),
      p99Ms: round3(percentile(sorted, 99)),
      roundSeconds: round3(roundSeconds),
      wallSeconds: round3(wallSeconds),
      rounds: this.rounds,
    };
  }
}

/** What the run measured outside the clients' answers. */
interface RunFacts {
  serverCpuSeconds: number;
  kill: { round: number; afterMs: number; restartMs: number; listeningAgainInRound: number } | undefined;
  /** Payments whose first charge the provider dropped. */
  droppedOrders: ReadonlySet<string>;
  chargeThenDrops: number;
  serverWarnings: Record<string, number>;
}

interface ChargeRow extends RowDataPacket {
  id: string;
  provider_reference: string;
  seq: string;
}

/** Charge id → provider reference, for one merchant. */
async function readCharges(pool: Pool, merchantId: string): Promise<Map<string, string>> {
  const [rows] = await pool.query<ChargeRow[]>('SELECT id, provider_reference FROM charges WHERE merchant_id = ?', [merchantId]);
  return new Map(rows.map((r) => [r.id, r.provider_reference]));
}

/** Waits until neither the provider nor the merchant's charges change for QUIET_MS (bounded). */
async function settle(sim: ProviderSimulator, pool: Pool, merchantId: string): Promise<boolean> {
  const signature = async (): Promise<string> => {
    const [rows] = await pool.query<ChargeRow[]>('SELECT MAX(seq) AS seq FROM charges WHERE merchant_id = ?', [merchantId]);
    const stats = sim.stats();
    return `${stats.requests}/${stats.paymentIntentsCreated}/${rows[0]?.seq ?? ''}`;
  };
  const deadline = Date.now() + SETTLE_DEADLINE_MS;
  let last = await signature();
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await delay(SETTLE_POLL_MS);
    const now = await signature();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= QUIET_MS) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// One strategy

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Two decimals, three below 0.1 % so that a single duplicate in 100,000 does not print as 0.00. */
function pct(value: number): string {
  return `${value.toFixed(value > 0 && value < 0.1 ? 3 : 2)} %`;
}

/** Takes the provider's PaymentIntents and starts a fresh ledger in one synchronous step, so none is missed. */
function drainProvider(sim: ProviderSimulator): PaymentIntent[] {
  const intents = sim.paymentIntents();
  sim.reset();
  providerLatency(sim);
  return intents;
}

function roundsOf(strategy: Strategy, opts: Options): number {
  return strategy === 'atomic-claim' ? opts.rounds : opts.naiveRounds;
}

/** The round in which each strategy has one instance SIGKILLed: its middle one (the second of two). */
function killRound(rounds: number): number {
  return Math.floor(rounds / 2);
}

async function runStrategy(env: SharedEnv, strategy: Strategy, opts: Options, runId: string): Promise<StrategyResult> {
  const wallStart = performance.now();
  const merchant = await new MerchantStore(env.pool).create(`bench-duplicates ${strategy} ${runId}`);
  drainProvider(env.sim);
  log(`\n== ${LABELS[strategy]} (${strategy}): starting ${opts.servers} server processes`);
  const started = await Promise.allSettled(Array.from({ length: opts.servers }, () => startStrategyServer(strategy, env)));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  // Every instance the strategy ran, the killed one and its replacement included.
  const everyServer = [...servers];
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const clients = servers.map((s) => new PaymentServiceClient(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure()));
  const tag = `${strategy}-${runId}`;
  const rounds = roundsOf(strategy, opts);
  const account = new StrategyAccount(`${tag}-`, rounds * opts.paymentsPerRound);
  // CPU is counted from the end of the warm-up; a replacement from when it listens.
  const cpuBaseline = new Map<ServerProcess, number>();
  let cpuUsed = 0;
  let kill: RunFacts['kill'];
  const dropsBefore = env.proxy.dropped;
  try {
    if (failed) throw failed.reason;
    const ctx: LoadContext = { clients, apiKey: merchant.apiKey, seed: opts.seed, tapGapMs: opts.tapGapMs, tapsOn: opts.tapsOn, tag };
    await warmUp(ctx);
    drainProvider(env.sim);
    for (const s of servers) cpuBaseline.set(s, s.cpuSeconds());
    env.proxy.dropFirst = (orderId) => dropsFirstCharge(opts.seed, tag, orderId);
    let restart: Promise<void> | undefined;
    let currentRound = 0;
    for (let round = 0; round < rounds; round++) {
      currentRound = round;
      const roundStart = performance.now();
      if (round === killRound(rounds)) {
        restart = (async () => {
          await delay(KILL_AFTER_MS);
          const victim = servers[0];
          if (!victim) return;
          cpuUsed += victim.cpuSeconds() - (cpuBaseline.get(victim) ?? 0);
          await victim.kill();
          const killedAt = performance.now();
          log(`[${strategy}] SIGKILLed instance 0 ${KILL_AFTER_MS} ms into round ${round + 1}; restarting it`);
          const fresh = await startStrategyServer(strategy, env);
          everyServer.push(fresh);
          cpuBaseline.set(fresh, fresh.cpuSeconds());
          servers[0] = fresh;
          clients[0]?.close();
          clients[0] = new PaymentServiceClient(`127.0.0.1:${fresh.port}`, grpc.credentials.createInsecure());
          const restartMs = performance.now() - killedAt;
          kill = { round: round + 1, afterMs: KILL_AFTER_MS, restartMs: Math.round(restartMs), listeningAgainInRound: currentRound + 1 };
          log(`[${strategy}] instance 0 listens again after ${(restartMs / 1000).toFixed(1)} s`);
        })();
        // Awaited after the rounds; until then a failed restart must not count as unhandled.
        restart.catch(() => undefined);
      }
      const runs = await Promise.all(Array.from({ length: opts.paymentsPerRound }, (_, i) => runPayment(ctx, round, i, opts.paymentsPerRound)));
      const seconds = (performance.now() - roundStart) / 1000;
      const reused = await reuseKeys(ctx, round, opts.paymentsPerRound);
      account.addReuse(reused, reused.length);
      account.addIntents(drainProvider(env.sim));
      const f = account.addRound(round + 1, seconds, runs);
      const done = (round + 1) * opts.paymentsPerRound;
      log(
        `[${strategy}] round ${round + 1}/${rounds}: ${runs.length} payments in ${seconds.toFixed(2)} s (${f.throughput.toFixed(0)}/s), ` +
          `p50 ${f.p50Ms.toFixed(0)} ms, p99 ${f.p99Ms.toFixed(0)} ms, ${f.calls} calls (${f.timeouts} timed out); ` +
          `duplicates so far ${account.duplicatesSoFar} (${pct((100 * account.duplicatesSoFar) / done)})`,
      );
    }
    await restart;
    // Calls the clients gave up on may still be charging: wait for them before counting and stopping.
    if (!(await settle(env.sim, env.pool, merchant.merchantId))) {
      log(`[${strategy}] warning: the provider or the charges table was still changing after ${SETTLE_DEADLINE_MS} ms`);
    }
    account.addIntents(drainProvider(env.sim));
    for (const s of servers) cpuUsed += s.cpuSeconds() - (cpuBaseline.get(s) ?? 0);
  } catch (err) {
    for (const s of servers) log(`--- output of a ${strategy} server ---\n${s.logTail()}`);
    throw err;
  } finally {
    env.proxy.dropFirst = undefined;
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
  }
  // Read after the servers stopped: nothing can still be writing.
  const charges = await readCharges(env.pool, merchant.merchantId);
  account.addIntents(drainProvider(env.sim));
  const serverWarnings: Record<string, number> = {};
  for (const s of everyServer) for (const [msg, n] of s.warnings()) serverWarnings[msg] = (serverWarnings[msg] ?? 0) + n;
  return account.result(strategy, charges, (performance.now() - wallStart) / 1000, {
    serverCpuSeconds: cpuUsed,
    kill,
    droppedOrders: env.proxy.droppedOrders,
    chargeThenDrops: env.proxy.dropped - dropsBefore,
    serverWarnings,
  });
}

// ---------------------------------------------------------------------------------------------
// Report

/** The printed table, one row per selected strategy in the order given; skipped ones say why below it. */
function table(order: readonly Strategy[], results: readonly StrategyResult[], skipped: ReadonlyArray<{ strategy: Strategy; reason: string }>): string {
  const header = ['strategy', 'payments', 'duplicates', 'design note', 'extra charges', 'lost', 'wrong answers', 'reused keys accepted', 'mismatch rej.', 'unanswered', 'payments/s', 'p50 ms', 'p99 ms', 'CPU µs/call'];
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

/** The benchmark sends its load to this machine only. */
function loopbackUrl(name: string, url: string): string {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    throw new UsageError(`${name} is not a URL`);
  }
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost' && host !== '[::1]') {
    throw new UsageError(`${name} must point at this machine (127.0.0.0/8, localhost or [::1]), got host "${host}"`);
  }
  return url;
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

// ---------------------------------------------------------------------------------------------
// Main

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
    shuttingDown = true;
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

    const totalSeconds = (performance.now() - runStart) / 1000;
    log(`\n${table(opts.strategies, results, skipped)}\n`);
    log(
      'duplicates: logical payments with more than one PaymentIntent at the provider (by metadata.order_id); ' +
        'lost: charged at the provider but never answered OK, told "succeeded" without a PaymentIntent or charge row, or a PaymentIntent without a charge row; ' +
        'wrong answers: an OK answer whose charge is not the provider\'s, or a tap whose last answer was a failure (not a timeout, not "in progress") for a payment the provider charged; ' +
        `reused keys accepted: a key sent again with another amount and answered OK; ` +
        'latency: first send to the last tap\'s final answer; CPU: the server processes\' user + system time per gRPC call.',
    );
    log(`total run time ${totalSeconds.toFixed(1)} s`);

    const outDir = path.join(ROOT, RESULTS_DIR);
    mkdirSync(outDir, { recursive: true });
    const base = `duplicates-${timestamp()}`;
    const report = {
      benchmark: 'duplicates',
      startedAt: startedAt.toISOString(),
      totalSeconds: round3(totalSeconds),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}` },
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
        database,
        redis: redisOrigin,
      },
      results,
      skipped,
    };
    writeFileSync(path.join(outDir, `${base}.json`), `${JSON.stringify(report, null, 2)}\n`);
    const svg = await renderDuplicatesChart(
      results.map((r) => ({ strategy: r.label, duplicateRatePct: r.duplicateRatePct, lostCharges: r.lostCharges, throughput: r.throughput, p50Ms: r.p50Ms, p99Ms: r.p99Ms })),
      {
        title: 'Duplicate charges by idempotency strategy',
        subtitle: `${opts.rounds} rounds (naive: ${opts.naiveRounds}) x ${opts.paymentsPerRound} payments, ${tapsDescription(opts)}, ${TIMEOUT_SHARE * 100} % timeouts, ${opts.servers} servers per strategy, ${os.cpus().length} cores`,
      },
    );
    writeFileSync(path.join(outDir, `${base}.svg`), svg);
    log(`wrote ${RESULTS_DIR}/${base}.json and ${RESULTS_DIR}/${base}.svg`);

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
