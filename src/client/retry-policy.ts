/**
 * How a call is retried. Every field has a default (DEFAULT_RETRY_POLICY); a caller overrides
 * any of them per client or per call.
 */
export interface RetryPolicy {
  /** Attempts in total, the first one included; 1 turns retries off. */
  maxAttempts: number;
  /** Upper bound of the first backoff; the bound doubles (backoffMultiplier) on each retry. */
  initialBackoffMs: number;
  /** Upper bound of any backoff computed by the client (a server's RetryInfo may ask for more). */
  maxBackoffMs: number;
  backoffMultiplier: number;
  /**
   * Deadline of one attempt. An attempt that runs out of it is retried (with the same key, so a
   * charge that did go through is replayed, or waited for while still in progress).
   */
  attemptTimeoutMs: number;
}

/**
 * Defaults sized for the server's own timings: a charge normally answers in milliseconds, a
 * provider call is given 10 s by the server, a duplicate waits up to 10 s for its leader, and a
 * dead instance's claim is taken over once its 30 s lease ends, and a restarted instance accepts
 * calls after a few seconds. Eight attempts (backoff bounds 0.2, 0.4, ... 5 s, about 8 s of waiting
 * on average) of at most 15 s each, inside the default 60 s call deadline
 * (PaymentsClientOptions.deadlineMs), outlast one lease and one restart.
 */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 8,
  initialBackoffMs: 200,
  maxBackoffMs: 5_000,
  backoffMultiplier: 2,
  attemptTimeoutMs: 15_000,
});

/** Fills in the defaults and refuses values that would make the loop meaningless. */
export function resolveRetryPolicy(...overrides: Array<Partial<RetryPolicy> | undefined>): RetryPolicy {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY };
  for (const o of overrides) if (o) Object.assign(policy, definedOnly(o));
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new RangeError('retry.maxAttempts must be an integer >= 1');
  for (const name of ['initialBackoffMs', 'maxBackoffMs', 'attemptTimeoutMs'] as const) {
    if (!(policy[name] >= 0) || !Number.isFinite(policy[name])) throw new RangeError(`retry.${name} must be a finite number >= 0`);
  }
  if (policy.attemptTimeoutMs === 0) throw new RangeError('retry.attemptTimeoutMs must be > 0');
  if (!(policy.backoffMultiplier >= 1)) throw new RangeError('retry.backoffMultiplier must be >= 1');
  return policy;
}

function definedOnly(o: Partial<RetryPolicy>): Partial<RetryPolicy> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/**
 * The wait before retry number `retry` (1 for the first retry): "full jitter", a uniform draw
 * between 0 and the exponential bound, so clients that failed together do not come back together.
 * A server's RetryInfo is a floor: the client never comes back sooner than the server asked.
 */
export function backoffMs(policy: RetryPolicy, retry: number, serverDelayMs: number | undefined, random: () => number = Math.random): number {
  const bound = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.backoffMultiplier ** (retry - 1));
  const jittered = random() * bound;
  return serverDelayMs === undefined ? jittered : Math.max(serverDelayMs, jittered);
}
