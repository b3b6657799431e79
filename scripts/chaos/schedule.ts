/**
 * The seeded plan of a chaos run: when which instance is killed or paused, when
 * the database crashes, and when the provider misbehaves. The same seed and
 * options give the same plan; what happens inside the processes at those
 * moments (which calls are in flight) is up to the machine.
 */
import type { SimulatorFault } from '../../src/simulator/fault-injector.js';
import type { ChaosOptions } from './chaos-options.js';
import { intBetween, pick, type Random, streamRandom } from './seeded-random.js';
import { LEASE_SECONDS } from './service-env.js';

const SCHEDULE_STREAM = 1;

/** A killed server stays down this long before it is started again (then its cold start adds a few seconds). */
const RESTART_DELAY_MS = { min: 500, max: 3_000 };
/** The database stays down this long after its SIGKILL; InnoDB crash recovery adds about a second. */
const DATABASE_DOWN_MS = { min: 1_000, max: 4_000 };
/** The zombie sleeps longer than the lease, so its leases are taken over while it is stopped. */
const ZOMBIE_PAUSE_MS = { min: LEASE_SECONDS * 1000 + 2_000, max: LEASE_SECONDS * 1000 + 5_000 };
/** A provider fault window lasts this long. */
const FAULT_WINDOW_MS = { min: 3_000, max: 6_000 };
/**
 * Longer than the service's provider timeout (half the lease), so a delayed
 * PaymentIntent is charged after the service gave up on it: an unknown outcome.
 */
const SLOW_PROVIDER_MS = (LEASE_SECONDS * 1000) / 2 + 500;
/** Delay of the other slow requests in a delay window: slow, but answered in time. */
const LAGGING_PROVIDER_MS = 400;

/**
 * Before a kill or a pause, the next few PaymentIntent requests are slowed down
 * (below the provider timeout), so that the crash lands while calls are at the
 * provider: charged there, not yet recorded. Consumed by count, so it needs no
 * closing; a fault window closing meanwhile clears what is left of it.
 */
const MID_FLIGHT_LATENCY_MS = 1_500;
const MID_FLIGHT_REQUESTS = 20;
/** Time for those requests to arrive before the process is hit. */
export const MID_FLIGHT_LEAD_MS = 400;

export const MID_FLIGHT_FAULT: SimulatorFault = {
  kind: 'latency',
  ms: MID_FLIGHT_LATENCY_MS,
  times: MID_FLIGHT_REQUESTS,
  match: { method: 'POST', pathPrefix: '/v1/payment_intents' },
};

export const FAULT_KINDS = ['drop', 'delay', 'http500'] as const;
export type FaultWindowKind = (typeof FAULT_KINDS)[number];

export type ChaosEvent =
  | { kind: 'server_kill'; atMs: number; instance: number; downMs: number }
  | { kind: 'database_kill'; atMs: number; downMs: number }
  | { kind: 'zombie'; atMs: number; instance: number; pauseMs: number }
  | { kind: 'fault_window'; atMs: number; fault: FaultWindowKind; durationMs: number; probability: number };

const CREATE_PAYMENT_INTENT = { method: 'POST', pathPrefix: '/v1/payment_intents' };

/** The simulator faults that make up one window (first match wins within the delay group). */
export function faultsOf(event: Extract<ChaosEvent, { kind: 'fault_window' }>): SimulatorFault[] {
  const common = { match: CREATE_PAYMENT_INTENT, times: 'unlimited' as const, probability: event.probability };
  switch (event.fault) {
    case 'drop':
      return [{ ...common, kind: 'chargeThenDrop' }];
    case 'http500':
      return [{ ...common, kind: 'http500' }];
    case 'delay':
      return [
        { ...common, kind: 'latency', ms: SLOW_PROVIDER_MS },
        { ...common, kind: 'latency', ms: LAGGING_PROVIDER_MS, probability: 0.5 },
      ];
  }
}

/** A time in the i-th of `slots` equal parts of [from, to): spreads events over the window. */
function inSlot(random: Random, i: number, slots: number, from: number, to: number): number {
  const width = (to - from) / slots;
  return Math.round(from + width * (i + random()));
}

export function buildSchedule(opts: ChaosOptions): ChaosEvent[] {
  const random = streamRandom(opts.seed, SCHEDULE_STREAM, 0);
  const window = opts.chaosWindowMs;
  const events: ChaosEvent[] = [];
  for (let i = 0; i < opts.serverKills; i++) {
    events.push({
      kind: 'server_kill',
      atMs: inSlot(random, i, opts.serverKills, 0.05 * window, 0.9 * window),
      instance: intBetween(random, 0, opts.instances - 1),
      downMs: intBetween(random, RESTART_DELAY_MS.min, RESTART_DELAY_MS.max),
    });
  }
  for (let i = 0; i < opts.databaseKills; i++) {
    events.push({
      kind: 'database_kill',
      atMs: inSlot(random, i, opts.databaseKills, 0.3 * window, 0.7 * window),
      downMs: intBetween(random, DATABASE_DOWN_MS.min, DATABASE_DOWN_MS.max),
    });
  }
  for (let i = 0; i < opts.zombiePauses; i++) {
    events.push({
      kind: 'zombie',
      atMs: inSlot(random, i, opts.zombiePauses, 0.15 * window, 0.75 * window),
      instance: intBetween(random, 0, opts.instances - 1),
      pauseMs: intBetween(random, ZOMBIE_PAUSE_MS.min, ZOMBIE_PAUSE_MS.max),
    });
  }
  // Windows never overlap (each has its own slot), so closing one clears only its own faults.
  const kinds = [...FAULT_KINDS];
  for (let i = 0; i < opts.faultWindows; i++) {
    const durationMs = intBetween(random, FAULT_WINDOW_MS.min, FAULT_WINDOW_MS.max);
    const slotWidth = window / opts.faultWindows;
    const start = Math.round(slotWidth * i + random() * Math.max(0, slotWidth - durationMs));
    // Every kind once before any repeats, in a seeded order.
    if (kinds.length === 0) kinds.push(...FAULT_KINDS);
    const fault = pick(random, kinds);
    kinds.splice(kinds.indexOf(fault), 1);
    events.push({ kind: 'fault_window', atMs: start, fault, durationMs: Math.min(durationMs, Math.floor(slotWidth)), probability: 0.2 + 0.3 * random() });
  }
  return events.sort((a, b) => a.atMs - b.atMs);
}

export function describeEvent(event: ChaosEvent): string {
  const at = `t=${(event.atMs / 1000).toFixed(1)}s`;
  switch (event.kind) {
    case 'server_kill':
      return `${at} SIGKILL server ${event.instance} (or the next one up), restart after ${event.downMs} ms`;
    case 'database_kill':
      return `${at} SIGKILL the database, restart on the same port after ${event.downMs} ms`;
    case 'zombie':
      return `${at} SIGSTOP server ${event.instance} (or the next one up) for ${event.pauseMs} ms (lease ${LEASE_SECONDS} s), then SIGCONT`;
    case 'fault_window':
      return `${at} provider ${event.fault} on ${Math.round(event.probability * 100)} % of new PaymentIntents for ${event.durationMs} ms`;
  }
}
