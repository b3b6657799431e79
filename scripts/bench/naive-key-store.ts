/**
 * The storage side of the benchmark's naive idempotency strategies (never
 * used by the product). Each one answers "have I seen this key?" in its own
 * flawed way; `naiveIdempotencyInterceptor` turns that answer into a replay or
 * a handler run.
 */

/** The naive strategies, by the name `duplicates-server.ts --strategy` takes. */
export const NAIVE_STRATEGIES = ['check-then-insert', 'in-memory-cache', 'redis-get-then-set'] as const;
export type NaiveStrategy = (typeof NAIVE_STRATEGIES)[number];

export function isNaiveStrategy(value: string | undefined): value is NaiveStrategy {
  return (NAIVE_STRATEGIES as readonly string[]).includes(value ?? '');
}

/** What a naive store decided for one call. */
export type NaiveDecision = { kind: 'replay'; body: Buffer } | { kind: 'proceed'; ticket: NaiveTicket };

/** The right to run the handler for a key, as far as this (naive) store knows. */
export interface NaiveTicket {
  /** Stores the handler's serialized response for later replays. */
  complete(body: Buffer): Promise<void>;
  /** The handler failed or never ran: forget the key. */
  abandon(): Promise<void>;
}

export interface NaiveKeyStore {
  begin(scope: string, key: string): Promise<NaiveDecision>;
  close(): Promise<void>;
}

/** A waiter gave up on a key another call holds in progress (answered ABORTED, so the client retries). */
export class NaiveKeyInUseError extends Error {
  override name = 'NaiveKeyInUseError';
}
