/** Lifecycle of an idempotency key row (DESIGN §3). */
export const KeyState = {
  InProgress: 'in_progress',
  Completed: 'completed',
  /**
   * Parked for an operator: the attempt may have had a side effect, but its
   * outcome can neither be stored nor decided automatically. Never resumed,
   * never expired; a retry is answered FAILED_PRECONDITION
   * (IDEMPOTENCY_KEY_NEEDS_ATTENTION) until an operator resolves it.
   */
  NeedsAttention: 'needs_attention',
} as const;
export type KeyState = (typeof KeyState)[keyof typeof KeyState];

/**
 * How far an attempt got. `provider_requested` is durable before any request
 * leaves for the provider, so an attempt that resumes a row at that point
 * knows a request may have been sent and re-sends it with the same
 * provider key instead of releasing the row.
 */
export const RecoveryPoint = {
  Started: 'started',
  ProviderRequested: 'provider_requested',
  ChargeRecorded: 'charge_recorded',
  Completed: 'completed',
} as const;
export type RecoveryPoint = (typeof RecoveryPoint)[keyof typeof RecoveryPoint];

const RECOVERY_POINTS: readonly string[] = Object.values(RecoveryPoint);
const KEY_STATES: readonly string[] = Object.values(KeyState);

export function parseRecoveryPoint(value: string): RecoveryPoint {
  if (!RECOVERY_POINTS.includes(value)) throw new Error(`unknown recovery point "${value}"`);
  return value as RecoveryPoint;
}

export function parseKeyState(value: string): KeyState {
  if (!KEY_STATES.includes(value)) throw new Error(`unknown idempotency key state "${value}"`);
  return value as KeyState;
}

/**
 * A row of `idempotency_keys` as a request that finds its key taken reads it, with the database
 * clock at read time: what deciding about it, replaying it, expiring it or taking it over needs.
 * A read by key selects only this (each column costs the driver a column definition per read).
 */
export interface KeyRecord {
  id: string;
  scope: string;
  key: string;
  method: string;
  fingerprint: Buffer;
  fingerprintVersion: number;
  /** Canonical request bytes (null for rows claimed before they were kept). */
  requestBody: Buffer | null;
  state: KeyState;
  lockedUntil: Date | null;
  leaseVersion: number;
  response: StoredResponse | null;
  expiresAt: Date;
  /** NOW(6) of the database when the row was read: all lease arithmetic uses this clock. */
  dbNow: Date;
  /**
   * The row's lease holder has stopped renewing (see LeaseHolder), so its lease may be taken
   * over before `lockedUntil`. Only a waiter's read asks; absent means not known.
   */
  holderGone?: boolean;
}

/** A whole row of `idempotency_keys` as read, for an attempt that holds (or resumes) it. */
export interface IdempotencyRecord extends KeyRecord {
  recoveryPoint: RecoveryPoint;
  /** Why the row is in `needs_attention` (a short code), else null. */
  attentionReason: string | null;
  createdAt: Date;
}

/** The outcome replayed to retries. */
export interface StoredResponse {
  code: number;
  message: string;
  /** Serialized response message; null for an error status. */
  body: Buffer | null;
  /** Trailing metadata as [key, value] pairs; `-bin` values base64. */
  trailers: Array<[string, string]>;
}

/** Identifies one attempt on one row: every write of the attempt is conditional on both. */
export interface Fence {
  id: string;
  leaseVersion: number;
}
