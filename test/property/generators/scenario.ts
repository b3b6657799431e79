import fc from 'fast-check';
import { type CreateChargeSpec, createChargeArb, plainCreateChargeArb } from './create-charge.js';
import { type RelativeAmount, refundReasonArb, relativeAmountArb, type TargetSpec, targetArb } from './follow-ups.js';
import { type KeySpec, keyArb } from './idempotency-key.js';

/** One generated request of a scenario. */
export type Step =
  | { rpc: 'CreateCharge'; key: KeySpec; create: CreateChargeSpec }
  | { rpc: 'CaptureCharge'; key: KeySpec; target: TargetSpec; amount: RelativeAmount }
  | { rpc: 'RefundCharge'; key: KeySpec; target: TargetSpec; amount: RelativeAmount; reason: number }
  | { rpc: 'CancelCharge'; key: KeySpec; target: TargetSpec };

export const createStepArb: fc.Arbitrary<Step> = fc.record({
  rpc: fc.constant('CreateCharge' as const),
  key: keyArb,
  create: fc.oneof({ arbitrary: createChargeArb, weight: 3 }, { arbitrary: plainCreateChargeArb, weight: 2 }),
});

export const followUpStepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ rpc: fc.constant('CaptureCharge' as const), key: keyArb, target: targetArb, amount: relativeAmountArb }),
  fc.record({ rpc: fc.constant('RefundCharge' as const), key: keyArb, target: targetArb, amount: relativeAmountArb, reason: refundReasonArb }),
  fc.record({ rpc: fc.constant('CancelCharge' as const), key: keyArb, target: targetArb }),
);

/**
 * A scenario: requests run one after another by one fresh merchant, in batches of a create
 * followed by up to three captures, refunds or cancels that mostly name charges of the same
 * scenario. Shrinking drops whole batches or single follow-ups.
 */
export const scenarioArb: fc.Arbitrary<Step[]> = fc
  .array(fc.tuple(createStepArb, fc.array(followUpStepArb, { maxLength: 3 })), { minLength: 1, maxLength: 3 })
  .map((batches) => batches.flatMap(([create, followUps]) => [create, ...followUps]));
