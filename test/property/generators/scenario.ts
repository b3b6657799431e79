import fc from 'fast-check';
import { createChargeArb, plainCreateChargeArb, type CreateChargeSpec } from './create-charge.js';
import { refundReasonArb, relativeAmountArb, targetArb, type RelativeAmount, type TargetSpec } from './follow-ups.js';
import { keyArb, type KeySpec } from './idempotency-key.js';

/** One generated request of a scenario. */
export type Step =
  | { rpc: 'CreateCharge'; key: KeySpec; create: CreateChargeSpec }
  | { rpc: 'CaptureCharge'; key: KeySpec; target: TargetSpec; amount: RelativeAmount }
  | { rpc: 'RefundCharge'; key: KeySpec; target: TargetSpec; amount: RelativeAmount; reason: number }
  | { rpc: 'CancelCharge'; key: KeySpec; target: TargetSpec };

export const createStepArb: fc.Arbitrary<Step> = fc.record({
  rpc: fc.constant('CreateCharge' as const),
  key: keyArb,
  create: fc.oneof(createChargeArb, plainCreateChargeArb),
});

export const followUpStepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ rpc: fc.constant('CaptureCharge' as const), key: keyArb, target: targetArb, amount: relativeAmountArb }),
  fc.record({ rpc: fc.constant('RefundCharge' as const), key: keyArb, target: targetArb, amount: relativeAmountArb, reason: refundReasonArb }),
  fc.record({ rpc: fc.constant('CancelCharge' as const), key: keyArb, target: targetArb }),
);

/**
 * A scenario: requests run one after another by one fresh merchant. Captures, refunds and cancels
 * mostly name charges created earlier in the same scenario. A plain array, so shrinking can drop
 * any step, the first one included.
 */
export const scenarioArb: fc.Arbitrary<Step[]> = fc.array(fc.oneof({ arbitrary: createStepArb, weight: 2 }, { arbitrary: followUpStepArb, weight: 3 }), {
  minLength: 1,
  maxLength: 8,
});
