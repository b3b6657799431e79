/**
 * Faults the provider simulator can inject, programmable from the test process
 * (`sim.faults.add(...)`) or over HTTP (`POST /_sim/faults` with one fault as JSON).
 *
 * A request takes at most one delay fault (`latency`, `hold`) and at most one outcome fault
 * (`http500`, `chargeThenDrop`, `hang`): the first pending fault of each group that matches it.
 * Delays run after the idempotency key is claimed and before processing, so a delayed request
 * holds its key in progress the way a slow provider does.
 *
 * - `latency`: wait `ms` before processing.
 * - `hold`: wait until `releaseHeld()` (or `POST /_sim/release`); `whenHeld(n)` resolves once n
 *   requests wait, which lets a test line up concurrent requests without sleeping.
 * - `http500`: answer 500 `api_error` WITHOUT processing (nothing is stored under the key).
 * - `chargeThenDrop`: process fully, store the idempotent result, then destroy the socket
 *   without answering.
 * - `hang`: process fully, store the result, then never answer (until the client gives up).
 */
export const FAULT_KINDS = ['latency', 'hold', 'http500', 'chargeThenDrop', 'hang'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultMatch {
  /** e.g. `POST`; any method when omitted. */
  method?: string;
  /** e.g. `/v1/payment_intents`; any provider path when omitted. */
  pathPrefix?: string;
}

export interface FaultCommon {
  match?: FaultMatch;
  /** How many matching requests the fault applies to; default 1. */
  times?: number | 'unlimited';
  /** Chance (0 to 1) that a matching request is affected; default 1. Only affected ones count. */
  probability?: number;
}

export type SimulatorFault = FaultCommon &
  ({ kind: 'latency'; ms: number } | { kind: 'hold' } | { kind: 'http500' } | { kind: 'chargeThenDrop' } | { kind: 'hang' });

export type DelayFault = Extract<SimulatorFault, { kind: 'latency' | 'hold' }>;
export type OutcomeFaultKind = 'http500' | 'chargeThenDrop' | 'hang';

export interface InjectedFaults {
  delay: DelayFault | undefined;
  outcome: OutcomeFaultKind | undefined;
}

interface PendingFault {
  fault: SimulatorFault;
  remaining: number;
}

function isDelay(fault: SimulatorFault): fault is DelayFault {
  return fault.kind === 'latency' || fault.kind === 'hold';
}

export class FaultInjector {
  private pending: PendingFault[] = [];
  private injectedCount = 0;

  /** Validates and queues a fault; throws TypeError on a malformed one. */
  add(fault: SimulatorFault): void {
    const checked = parseSimulatorFault(fault);
    const times = checked.times ?? 1;
    this.pending.push({ fault: checked, remaining: times === 'unlimited' ? Number.POSITIVE_INFINITY : times });
  }

  clear(): void {
    this.pending = [];
  }

  /** Faults still pending, with `times` set to what is left of each. */
  list(): SimulatorFault[] {
    return this.pending.map(({ fault, remaining }) => ({
      ...fault,
      times: remaining === Number.POSITIVE_INFINITY ? 'unlimited' : remaining,
    }));
  }

  /** How many faults have been applied since the last reset. */
  get injected(): number {
    return this.injectedCount;
  }

  /** Picks (and uses up) the faults that apply to one request. */
  take(method: string, path: string): InjectedFaults {
    let delay: DelayFault | undefined;
    let outcome: OutcomeFaultKind | undefined;
    if (this.pending.length === 0) return { delay, outcome };
    for (const entry of this.pending) {
      const { fault } = entry;
      const wanted = isDelay(fault) ? delay === undefined : outcome === undefined;
      if (!wanted || !matches(fault.match, method, path)) continue;
      if (fault.probability !== undefined && Math.random() >= fault.probability) continue;
      entry.remaining -= 1;
      this.injectedCount += 1;
      if (isDelay(fault)) delay = fault;
      else outcome = fault.kind;
    }
    this.pending = this.pending.filter((entry) => entry.remaining > 0);
    return { delay, outcome };
  }

  reset(): void {
    this.pending = [];
    this.injectedCount = 0;
  }
}

function matches(match: FaultMatch | undefined, method: string, path: string): boolean {
  if (match === undefined) return true;
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.pathPrefix !== undefined && !path.startsWith(match.pathPrefix)) return false;
  return true;
}

/** Checks a fault that may come from JSON; throws TypeError saying what is wrong. */
export function parseSimulatorFault(value: unknown): SimulatorFault {
  if (typeof value !== 'object' || value === null) throw new TypeError('a fault must be an object');
  const v = value as Record<string, unknown>;
  const common: FaultCommon = {};

  if (v['match'] !== undefined) {
    if (typeof v['match'] !== 'object' || v['match'] === null) throw new TypeError('match must be an object');
    const m = v['match'] as Record<string, unknown>;
    const match: FaultMatch = {};
    if (m['method'] !== undefined) {
      if (typeof m['method'] !== 'string') throw new TypeError('match.method must be a string');
      match.method = m['method'];
    }
    if (m['pathPrefix'] !== undefined) {
      if (typeof m['pathPrefix'] !== 'string') throw new TypeError('match.pathPrefix must be a string');
      match.pathPrefix = m['pathPrefix'];
    }
    common.match = match;
  }
  const times = v['times'];
  if (times !== undefined) {
    const valid = times === 'unlimited' || times === Number.POSITIVE_INFINITY || (typeof times === 'number' && Number.isSafeInteger(times) && times >= 1);
    if (!valid) throw new TypeError('times must be a positive integer or "unlimited"');
    common.times = times === Number.POSITIVE_INFINITY ? 'unlimited' : (times as number | 'unlimited');
  }
  const probability = v['probability'];
  if (probability !== undefined) {
    if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) {
      throw new TypeError('probability must be a number from 0 to 1');
    }
    common.probability = probability;
  }

  switch (v['kind']) {
    case 'latency': {
      const ms = v['ms'];
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new TypeError('latency needs ms >= 0');
      return { ...common, kind: 'latency', ms };
    }
    case 'hold':
    case 'http500':
    case 'chargeThenDrop':
    case 'hang':
      return { ...common, kind: v['kind'] };
    default:
      throw new TypeError(`kind must be one of ${FAULT_KINDS.join(', ')}`);
  }
}
