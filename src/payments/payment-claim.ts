import type { ClaimedRecord } from '../idempotency/claimed-record.js';
import type { GuardedWrite, SqlStatement } from '../idempotency/idempotency-store.js';
import { RecoveryPoint } from '../idempotency/record.js';
import type { WriteGuard } from './charge-repository.js';

/**
 * What the payment use cases use of their call's claimed idempotency record (the ClaimedRecord
 * the interceptor or the background completer hands them): its id, recovery point and
 * downstream key, the side-effect declarations, and the two ways a write joins the record.
 * Every mutating use case runs with one.
 */
export type PaymentClaim = Pick<
  ClaimedRecord,
  'id' | 'recoveryPoint' | 'pastDownstreamWindow' | 'downstreamKey' | 'beginSideEffect' | 'sideEffectNotPerformed' | 'advance' | 'completeWith'
>;

/** A statement that takes the idempotency fence as its guard (see GuardedWrite). */
export type Write = (guard: WriteGuard) => SqlStatement;

function guarded(write: Write): GuardedWrite {
  return (sql, values) => write({ sql, values });
}

/**
 * Commits `writes` now, in one transaction, through `advance(ChargeRecorded)` (fenced by the
 * lease, so a fenced-out attempt writes nothing), and resolves with each one's result in order.
 * A SELECT among them reads the rows as this very transaction left them: the snapshot an answer
 * is built from.
 */
export function recordNow(claim: PaymentClaim, writes: Write[]): Promise<unknown[]> {
  return claim.advance(RecoveryPoint.ChargeRecorded, writes.map(guarded));
}

/** Commits `write` in the transaction that stores the response (fenced by the lease). */
export function recordOnCompletion(claim: PaymentClaim, write: Write): void {
  claim.completeWith(guarded(write));
}
