import { createHash } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { Completion, GuardedWrite, IdempotencyStore } from './idempotency-store.js';
import { type Fence, type IdempotencyRecord, KeyState, RecoveryPoint, type StoredResponse } from './record.js';

/** Thrown when an attempt finds it no longer holds its lease: another attempt took the row over. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/** The durations every claim of one server works with. */
export interface ClaimTerms {
  /** How long an attempt owns the row before another may take it over. */
  leaseSeconds: number;
  /** How long a completed outcome is replayed, counted from its completion. */
  ttlSeconds: number;
  /**
   * How long the downstream system (the payment provider) remembers an
   * idempotency key; an attempt resuming a row older than this must look its
   * side effect up before sending anything again (see `pastDownstreamWindow`).
   */
  downstreamWindowSeconds: number;
}

/**
 * What a handler knows about the idempotency key its call claimed, and the
 * only way it writes state that must move with the key's recovery point.
 */
export class ClaimedRecord {
  /** Writes committed in the same transaction as the stored response. */
  readonly completionWrites: GuardedWrite[] = [];
  private sideEffects = false;
  private attention: string | undefined;
  private completion: Completion | undefined;
  private point: RecoveryPoint;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly record: IdempotencyRecord,
    /** True when this attempt took over a row another attempt had started. */
    readonly resumed: boolean,
    readonly terms: ClaimTerms,
  ) {
    this.point = record.recoveryPoint;
  }

  /**
   * True when this attempt resumes a row claimed longer ago than the
   * downstream idempotency window (by the database clock, read with the row):
   * re-sending with the same downstream key could then create a second side
   * effect, so the handler must look the earlier one up first (by `downstreamKey`,
   * which it also sends as a reference the downstream system can be searched by),
   * and throw NeedsAttentionError when it cannot decide.
   */
  get pastDownstreamWindow(): boolean {
    return this.resumed && this.record.dbNow.getTime() - this.record.createdAt.getTime() >= this.terms.downstreamWindowSeconds * 1000;
  }

  get id(): string {
    return this.record.id;
  }
  get leaseVersion(): number {
    return this.record.leaseVersion;
  }
  get recoveryPoint(): RecoveryPoint {
    return this.point;
  }
  get scope(): string {
    return this.record.scope;
  }
  get fence(): Fence {
    return { id: this.record.id, leaseVersion: this.record.leaseVersion };
  }

  /**
   * A key for a downstream system (the payment provider), derived from the
   * claimed row: identical for every attempt and every instance that resumes
   * this row, and different for a new claim of the same key after expiry.
   */
  downstreamKey(purpose: string): string {
    const digest = createHash('sha256')
      .update(`${this.record.scope}\n${this.record.key}\n${this.record.id}\n${this.record.createdAt.toISOString()}\n${purpose}`)
      .digest('base64url');
    return `idem_${digest.slice(0, 40)}`;
  }

  /**
   * Moves the durable recovery point, committing `writes` atomically with it
   * (each guarded by the lease); resolves with each write's result in order
   * (rows for a SELECT). Throws LeaseLostError when another attempt took the row over.
   */
  async advance(point: RecoveryPoint, writes: GuardedWrite[] = []): Promise<unknown[]> {
    const results = await this.store.advance(this.fence, point, this.terms.leaseSeconds, writes);
    if (!results) throw new LeaseLostError(`lease ${this.record.leaseVersion} on idempotency record ${this.record.id} was taken over`);
    this.point = point;
    return results;
  }

  /** Records the expiry the completion of this claim set (counted from the completion). */
  completed(completion: Completion): void {
    this.completion = completion;
  }

  /** When the key expires: as completed, or as claimed while it is not. */
  get expiresAt(): Date {
    return this.completion?.expiresAt ?? this.record.expiresAt;
  }

  /**
   * The row as it is once `response` has been stored under this claim: the expiry its completion
   * set, with the database clock of that same moment (an entry kept in memory lives from there).
   */
  completedWith(response: StoredResponse): IdempotencyRecord {
    return {
      ...this.record,
      state: KeyState.Completed,
      recoveryPoint: RecoveryPoint.Completed,
      lockedUntil: null,
      response,
      ...(this.completion ? { expiresAt: this.completion.expiresAt, dbNow: this.completion.dbNow } : {}),
    };
  }

  /** Registers writes to commit in the transaction that stores the response. */
  completeWith(...writes: GuardedWrite[]): void {
    this.completionWrites.push(...writes);
  }

  /**
   * Declares that from now on an external side effect may have happened (a
   * request is about to leave for the provider). A failure after this keeps
   * the row for recovery instead of releasing it.
   */
  beginSideEffect(): void {
    this.sideEffects = true;
  }

  /**
   * Declares that this attempt can neither finish nor safely be retried (see
   * NeedsAttentionError): whatever status the handler ends with, the row is
   * parked in `needs_attention` instead of being stored, released or resumed.
   */
  needsAttention(reason: string): void {
    this.attention ??= reason;
  }

  /** The reason given to `needsAttention`, if any. */
  get attentionReason(): string | undefined {
    return this.attention;
  }

  /** Declares that the side effect certainly did not happen (the request never left). */
  sideEffectNotPerformed(): void {
    this.sideEffects = false;
  }

  /**
   * Whether a failed attempt may delete the row so that a retry runs as new.
   * Never for a resumed attempt: an earlier attempt may have reached the provider.
   */
  get releasable(): boolean {
    return !this.resumed && !this.sideEffects;
  }
}

/**
 * Claimed records by call. The Metadata object travels unchanged from the
 * interceptor to the handler, and only this module can add entries, so a
 * client cannot forge or swap a claim.
 */
const claims = new WeakMap<Metadata, ClaimedRecord>();

export function attachClaim(metadata: Metadata, claim: ClaimedRecord): void {
  claims.set(metadata, claim);
}

export function claimOf(metadata: Metadata): ClaimedRecord | undefined {
  return claims.get(metadata);
}
