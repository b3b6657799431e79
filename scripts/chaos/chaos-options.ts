/**
 * Command line of `npm run -s chaos`, and the two profiles it starts from.
 */
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';

export interface ChaosOptions {
  seed: number;
  /** The seed was drawn, not given: printed so the run can be repeated. */
  seedDrawn: boolean;
  quick: boolean;
  payments: number;
  instances: number;
  /** Length of the window in which payments start and the scheduled faults happen. */
  chaosWindowMs: number;
  serverKills: number;
  databaseKills: number;
  zombiePauses: number;
  faultWindows: number;
}

interface Profile {
  payments: number;
  instances: number;
  chaosWindowMs: number;
  serverKills: number;
  faultWindows: number;
}

/**
 * The default run (the acceptance run): 3,000 payments paced over 100 s so
 * that six kills, the database crash, the zombie pause and six fault windows all
 * land while payments are in flight. Measured on 2 cores: about 3 minutes in all.
 */
const DEFAULT_PROFILE: Profile = { payments: 3_000, instances: 3, chaosWindowMs: 100_000, serverKills: 6, faultWindows: 6 };
/** For CI: every kind of fault once (two instances save a core's worth of start-up). About 1 minute on 2 cores. */
const QUICK_PROFILE: Profile = { payments: 500, instances: 2, chaosWindowMs: 45_000, serverKills: 1, faultWindows: 3 };

const MAX_PAYMENTS = 100_000;
const MAX_INSTANCES = 8;

export const USAGE = `Usage: npm run -s chaos -- [options]

  --seed N          seed of the schedule and of every payment's choices (default: drawn and printed)
  --quick           short profile for CI: ${QUICK_PROFILE.payments} payments, ${QUICK_PROFILE.instances} instances, ${QUICK_PROFILE.serverKills} server kill,
                    1 database kill, 1 zombie pause, ${QUICK_PROFILE.faultWindows} provider fault windows
  --payments N      payments to make (default ${DEFAULT_PROFILE.payments}; at most ${MAX_PAYMENTS})
  --instances N     server processes, at least 2 (default ${DEFAULT_PROFILE.instances}; at most ${MAX_INSTANCES})

Starts its own MariaDB/MySQL, provider simulator and server processes on 127.0.0.1,
kills and pauses them on a seeded schedule while clients make payments, then checks the
provider's ledger, the database and every answer the clients received. Exits 1 when a
figure that must be 0 is not. See docs/chaos.md.`;

export class UsageError extends Error {
  override name = 'UsageError';
}

function bounded(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return Number(raw);
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' },
      quick: { type: 'boolean', default: false },
      payments: { type: 'string' },
      instances: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
}

/** Parsed options, or undefined after printing the usage for --help. */
export function parseChaosOptions(argv: string[]): ChaosOptions | undefined {
  const parse = (): ReturnType<typeof parseOptions> => {
    try {
      return parseOptions(argv);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  };
  const { values } = parse();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return undefined;
  }
  const quick = values.quick ?? false;
  const profile = quick ? QUICK_PROFILE : DEFAULT_PROFILE;
  const seedDrawn = values.seed === undefined;
  return {
    seed: seedDrawn ? randomInt(1, 2 ** 31) : bounded('seed', values.seed, 1, 0, 2 ** 32 - 1),
    seedDrawn,
    quick,
    payments: bounded('payments', values.payments, profile.payments, 1, MAX_PAYMENTS),
    instances: bounded('instances', values.instances, profile.instances, 2, MAX_INSTANCES),
    chaosWindowMs: profile.chaosWindowMs,
    serverKills: profile.serverKills,
    databaseKills: 1,
    zombiePauses: 1,
    faultWindows: profile.faultWindows,
  };
}
