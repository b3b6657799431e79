import type { ClaimPayload } from './canonical-request.js';
import type { Fence, IdempotencyRecord, KeyRecord, RecoveryPoint, StoredResponse } from './record.js';

/** One SQL statement with its bound values. */
export interface SqlStatement {
  sql: string;
  values: unknown[];
}

/**
 * A write a handler wants committed atomically with a recovery-point change.
 * `guard` is an SQL boolean expression (with `guardValues`) that is true only
 * while the attempt still holds its lease and has just moved the row to the
 * new point in this very transaction; the write must include it (e.g.
 * `INSERT ... SELECT ... FROM DUAL WHERE <guard>` or `UPDATE ... WHERE ... AND <guard>`),
 * so that a fenced-out attempt writes nothing.
 */
export type GuardedWrite = (guard: string, guardValues: unknown[]) => SqlStatement;

export interface ClaimInput {
  scope: string;
  key: string;
  method: string;
  /** Read only when the claim writes a row (a replay found by a read never canonicalizes). */
  payload: ClaimPayload;
  recoveryPoint: RecoveryPoint;
  ttlSeconds: number;
  leaseSeconds: number;
}

/** What a completion set: the key's expiry, with the database clock read in the same transaction. */
export interface Completion {
  expiresAt: Date;
  dbNow: Date;
}

/** A won claim holds the whole row; a lost one the row that holds the key, as a read by key returns it. */
export type ClaimResult = { won: true; record: IdempotencyRecord } | { won: false; record: KeyRecord };

/** Storage of idempotency records. One implementation: MySQL. */
export interface IdempotencyStore {
  /** Claims the key with one INSERT on the unique index; hands back the existing row when it loses. */
  claim(input: ClaimInput): Promise<ClaimResult>;
  /** The row that holds the key, with what a decision about it needs. */
  read(scope: string, key: string): Promise<KeyRecord | undefined>;
  /** The same read for a caller waiting on an in-progress row: it also tells whether the lease's holder is gone (`holderGone`). */
  readWaiting(scope: string, key: string): Promise<KeyRecord | undefined>;
  /** Takes over an in-progress row whose lease expired or whose holder is gone; undefined when someone else got it first. */
  takeOver(record: KeyRecord, leaseSeconds: number): Promise<IdempotencyRecord | undefined>;
  /**
   * Moves the row to `point` and runs `writes` in the same transaction; undefined when fenced
   * out, else each write's result in order (rows for a SELECT, so a snapshot read after an
   * update in the same transaction comes back with it).
   */
  advance(fence: Fence, point: RecoveryPoint, leaseSeconds: number, writes: GuardedWrite[]): Promise<unknown[] | undefined>;
  /**
   * Stores the outcome and runs `writes` in the same transaction; undefined when fenced out,
   * else the key's expiry: `ttlSeconds` after this completion (never earlier than its claim set).
   */
  complete(fence: Fence, response: StoredResponse, writes: GuardedWrite[], ttlSeconds: number): Promise<Completion | undefined>;
  /** Parks the row in `needs_attention` for an operator (a short reason code); false when fenced out. */
  park(fence: Fence, reason: string): Promise<boolean>;
  /** Deletes the row so a retry runs as new; false when fenced out. */
  release(fence: Fence): Promise<boolean>;
  /** Ends the lease now so the next retry (or the completer) resumes at once. */
  abandon(fence: Fence): Promise<boolean>;
  /** Deletes a completed row past its expiry so the key can be claimed anew. */
  deleteExpired(record: KeyRecord): Promise<void>;
  /** In-progress rows of `methods` with a stored request whose lease has expired or whose holder is gone, oldest first (for the background completer). */
  findAbandoned(limit: number, methods: string[]): Promise<IdempotencyRecord[]>;
  /** Deletes up to `limit` completed rows past their expiry; returns how many. Never touches in-progress rows. */
  reapExpired(limit: number): Promise<number>;
}
