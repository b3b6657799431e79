import type { GuardedWrite } from '../../src/idempotency/idempotency-store.js';
import { RecoveryPoint } from '../../src/idempotency/record.js';
import type { ChargeRepository } from '../../src/payments/charge-repository.js';
import { newId } from '../../src/payments/new-id.js';
import type { PaymentClaim } from '../../src/payments/payment-claim.js';
import type { ClaimedCall } from '../../src/payments/payment-handlers.js';

/**
 * No idempotency row backs a plain claim, so the charges and refunds it records link to none:
 * their idempotency_key_id is NULL (the driver binds undefined as NULL), never the id of some
 * other row.
 */
const NO_KEY_ROW = undefined as unknown as string;

/** A guard that always holds: a plain claim has no lease to fence its writes with. */
const UNFENCED = '1 = 1';

function plainly(write: GuardedWrite) {
  return write(UNFENCED, []);
}

/**
 * The claim of one call of the benchmarks' baseline, the service without the idempotency
 * interceptor: nothing claimed, nothing stored, nothing replayed. Its writes run plainly through
 * the same ChargeRepository.execute as a claim's (one statement: autocommit; several: one
 * transaction), without the key row's fence, and its provider key is new on every call, so the
 * provider never deduplicates either.
 */
export class PlainClaim implements PaymentClaim {
  readonly id = NO_KEY_ROW;
  readonly recoveryPoint: RecoveryPoint = RecoveryPoint.Started;
  readonly pastDownstreamWindow = false;
  /** Writes meant for the transaction that stores the response: run once the use case returns. */
  readonly completionWrites: GuardedWrite[] = [];

  constructor(private readonly repo: ChargeRepository) {}

  downstreamKey(): string {
    return newId('direct_');
  }

  beginSideEffect(): void {}

  sideEffectNotPerformed(): void {}

  advance(_point: RecoveryPoint, writes: GuardedWrite[] = []): Promise<unknown[]> {
    return this.repo.execute(writes.map(plainly));
  }

  completeWith(...writes: GuardedWrite[]): void {
    this.completionWrites.push(...writes);
  }
}

/**
 * Runs each mutating call with a PlainClaim of its own, then its completion writes (the charge
 * row of a CreateCharge), before the answer is sent.
 */
export function withPlainClaim(repo: ChargeRepository): ClaimedCall {
  return async (_md, run) => {
    const claim = new PlainClaim(repo);
    const result = await run(claim);
    if (claim.completionWrites.length > 0) await repo.execute(claim.completionWrites.map(plainly));
    return result;
  };
}
