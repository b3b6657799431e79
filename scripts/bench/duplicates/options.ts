/** The command line of `npm run bench:duplicates`: defaults, usage, parsing. */
import { parseArgs } from 'node:util';
import { DEFAULT_REDIS_URL } from '../naive-redis.js';
import { RESULTS_DIR } from './paths.js';
import { STRATEGIES, type Strategy } from './strategies.js';

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
export const TAPS_ON = ['same', 'other'] as const;
export type TapsOn = (typeof TAPS_ON)[number];

export interface Options {
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

export const USAGE = `Usage: npm run bench:duplicates -- [options]

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

export class UsageError extends Error {
  override name = 'UsageError';
}

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw)))
    throw new UsageError(`--${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

export function parseOptions(argv: string[]): Options | undefined {
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
  for (const name of (values.strategies ?? STRATEGIES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
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

/** The benchmark sends its load to this machine only. */
export function loopbackUrl(name: string, url: string): string {
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
