import fc from 'fast-check';
import { RefundReason } from '../../../src/gen/payments/v1/payments.js';
import { amountArb } from './create-charge.js';
import { shortText, Text, textPattern } from './text.js';

/** Which charge a capture, refund or cancel names. */
export type TargetSpec =
  /** A charge created earlier in the same scenario (index modulo how many there are). */
  | { kind: 'created'; index: number }
  /** As `created`, among the charges whose state allows the operation when there are any. */
  | { kind: 'eligible'; index: number }
  /** A charge of another merchant (created in an earlier scenario). */
  | { kind: 'otherMerchant' }
  | { kind: 'id'; id: string };

/** An amount relative to what the target allows (`base`), resolved when the step runs. */
export type RelativeAmount =
  | { kind: 'unset' }
  | { kind: 'full' }
  /** base * permille / 1000, at least 1. */
  | { kind: 'part'; permille: number }
  | { kind: 'over'; by: number }
  | { kind: 'raw'; value: string };

export function resolveAmount(a: RelativeAmount, base: number): string | undefined {
  switch (a.kind) {
    case 'unset':
      return undefined;
    case 'full':
      return String(base);
    case 'part':
      return String(Math.max(1, Math.floor((base * a.permille) / 1000)));
    case 'over':
      return String(base + a.by);
    case 'raw':
      return a.value;
  }
}

/** Well-formed ids nobody has, malformed ones, long ones of any characters (which error messages may quote), and arbitrary text. */
export const chargeIdArb: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^ch_[A-Za-z0-9_-]{1,37}$/),
  fc.constantFrom('', ' ', 'ch_', 'pi_123', `ch_${'a'.repeat(38)}`, 'ch_../x', 'CH_abc'),
  fc.tuple(textPattern, fc.integer({ min: 0, max: 64 })).map(([pattern, count]) => `ch_${new Text(pattern, count).value}`),
  shortText.map((t) => t.value),
);

export const targetArb: fc.Arbitrary<TargetSpec> = fc.oneof(
  { arbitrary: fc.nat({ max: 7 }).map((index): TargetSpec => ({ kind: 'eligible', index })), weight: 8 },
  { arbitrary: fc.nat({ max: 7 }).map((index): TargetSpec => ({ kind: 'created', index })), weight: 1 },
  { arbitrary: fc.constant<TargetSpec>({ kind: 'otherMerchant' }), weight: 1 },
  { arbitrary: chargeIdArb.map((id): TargetSpec => ({ kind: 'id', id })), weight: 1 },
);

export const relativeAmountArb: fc.Arbitrary<RelativeAmount> = fc.oneof(
  { arbitrary: fc.constant<RelativeAmount>({ kind: 'unset' }), weight: 3 },
  { arbitrary: fc.constant<RelativeAmount>({ kind: 'full' }), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 999 }).map((permille): RelativeAmount => ({ kind: 'part', permille })), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 1000 }).map((by): RelativeAmount => ({ kind: 'over', by })), weight: 1 },
  { arbitrary: amountArb.map((value): RelativeAmount => ({ kind: 'raw', value })), weight: 1 },
);

/** Defined reasons, and numbers the enum does not define (the int32 edges included). */
export const refundReasonArb: fc.Arbitrary<number> = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      RefundReason.REFUND_REASON_UNSPECIFIED,
      RefundReason.REFUND_REASON_DUPLICATE,
      RefundReason.REFUND_REASON_FRAUDULENT,
      RefundReason.REFUND_REASON_REQUESTED_BY_CUSTOMER,
    ),
    weight: 8,
  },
  { arbitrary: fc.oneof(fc.constantFrom(-1, 4, 2 ** 31 - 1, -(2 ** 31)), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })), weight: 1 },
);
