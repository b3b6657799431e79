import fc from 'fast-check';
import { CaptureMethod, type CreateChargeRequest } from '../../../src/gen/payments/v1/payments.js';
import { TEST_PAYMENT_METHODS } from '../../../src/simulator/test-payment-methods.js';
import { LIMITS } from '../limits.js';
import { shortText, Text, textNear } from './text.js';

/** Smallest and largest int64, as the wire allows them. */
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Amounts (int64 decimal strings): the edges of the accepted range, just outside it, and anything int64 holds. */
export const amountArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: LIMITS.amount }).map(String), weight: 10 },
  {
    arbitrary: fc.constantFrom('0', '1', String(LIMITS.amount), String(LIMITS.amount + 1), '-1', INT64_MAX.toString(), INT64_MIN.toString()),
    weight: 2,
  },
  { arbitrary: fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).map(String), weight: 1 },
);

const ISO_CURRENCIES = Intl.supportedValuesOf('currency').map((c) => c.toLowerCase());

/** ISO 4217 codes in any letter case (sometimes padded), and codes that are not. */
export const currencyArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom('usd', 'eur', 'jpy', 'gbp'), weight: 6 },
  { arbitrary: fc.mixedCase(fc.constantFrom(...ISO_CURRENCIES)), weight: 6 },
  { arbitrary: fc.constantFrom(' usd', 'usd ', '', 'xyz', 'us', 'usdd', 'ÜSD', 'u$d', 'usd\u0000'), weight: 1 },
  { arbitrary: shortText.map((t) => t.value), weight: 1 },
);

/** Stripe's test payment methods (successes and every decline) and strings that are none of them. */
export const paymentMethodArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom('pm_card_visa', 'pm_card_visa', 'pm_card_mastercard'), weight: 8 },
  { arbitrary: fc.constantFrom(...TEST_PAYMENT_METHODS.keys()), weight: 3 },
  { arbitrary: fc.constantFrom('', ' ', 'pm_card_VISA', 'pm_card_visa ', 'pm_card_unknown'), weight: 1 },
  { arbitrary: textNear(LIMITS.paymentMethod).map((t) => t.value), weight: 1 },
);

/** Known values, and numbers the enum does not define (negative ones included: int32 on the wire). */
export const captureMethodArb: fc.Arbitrary<number> = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      CaptureMethod.CAPTURE_METHOD_UNSPECIFIED,
      CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
      CaptureMethod.CAPTURE_METHOD_MANUAL,
      CaptureMethod.CAPTURE_METHOD_MANUAL,
    ),
    weight: 8,
  },
  { arbitrary: fc.oneof(fc.constantFrom(-1, 3, 2 ** 31 - 1, -(2 ** 31)), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })), weight: 1 },
);

/** Metadata as `count` entries of one key shape (made unique per entry) and one value shape, plus a few free entries. */
export class MetadataSpec {
  constructor(
    readonly count: number,
    readonly key: Text,
    readonly value: Text,
    readonly extra: readonly (readonly [Text, Text])[],
  ) {}

  entries(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.count; i += 1) out[this.key.unique(i)] = this.value.value;
    for (const [k, v] of this.extra) out[k.value] = v.value;
    return out;
  }

  [fc.toStringMethod](): string {
    const extra = this.extra.map(([k, v]) => `${fc.stringify(k)}: ${fc.stringify(v)}`).join(', ');
    return `metadata(${this.count} x ${fc.stringify(this.key)} -> ${fc.stringify(this.value)}${extra ? `, {${extra}}` : ''})`;
  }
}

const metadataKeyArb = fc.oneof({ arbitrary: shortText.filter((t) => t.count > 0), weight: 3 }, { arbitrary: textNear(LIMITS.metadataKey), weight: 1 });
/** Free entries, now and then under the key the service reserves. */
const extraEntriesArb = fc.array(
  fc.tuple(
    fc.oneof({ arbitrary: shortText, weight: 9 }, { arbitrary: fc.constant(LIMITS.reservedMetadataKey).map((k) => new Text([...k], k.length)), weight: 1 }),
    shortText,
  ),
  { maxLength: 2 },
);

/** A few entries of any texts: the common case. */
const smallMetadataArb: fc.Arbitrary<MetadataSpec> = fc
  .record({
    count: fc.integer({ min: 0, max: 3 }),
    key: metadataKeyArb,
    value: fc.oneof({ arbitrary: shortText, weight: 3 }, { arbitrary: textNear(LIMITS.metadataValue), weight: 1 }),
    extra: extraEntriesArb,
  })
  .map((m) => new MetadataSpec(m.count, m.key, m.value, m.extra));

/** Many entries (around and over the entry limit) with values at or over their limit: the largest requests validation may let through. */
const largeMetadataArb: fc.Arbitrary<MetadataSpec> = fc
  .record({
    count: fc.oneof(
      fc.constantFrom(LIMITS.metadataEntries - 1, LIMITS.metadataEntries, LIMITS.metadataEntries + 1),
      fc.integer({ min: 0, max: LIMITS.metadataEntries + 5 }),
    ),
    key: metadataKeyArb,
    value: textNear(LIMITS.metadataValue),
    extra: extraEntriesArb,
  })
  .map((m) => new MetadataSpec(m.count, m.key, m.value, m.extra));

export const metadataArb: fc.Arbitrary<MetadataSpec> = fc.oneof({ arbitrary: smallMetadataArb, weight: 3 }, { arbitrary: largeMetadataArb, weight: 1 });

/** A CreateCharge request as generated: texts stay patterns so a counterexample prints short. */
export interface CreateChargeSpec {
  amount: string;
  currency: string;
  paymentMethod: string;
  customerId: Text;
  description: Text;
  metadata: MetadataSpec;
  captureMethod: number;
}

export const createChargeArb: fc.Arbitrary<CreateChargeSpec> = fc.record({
  amount: amountArb,
  currency: currencyArb,
  paymentMethod: paymentMethodArb,
  customerId: fc.oneof({ arbitrary: shortText, weight: 3 }, { arbitrary: textNear(LIMITS.customerId), weight: 1 }),
  description: fc.oneof({ arbitrary: shortText, weight: 3 }, { arbitrary: textNear(LIMITS.description), weight: 1 }),
  metadata: metadataArb,
  captureMethod: captureMethodArb,
});

/**
 * The everyday request: a known card, a common currency, short plain texts, a few metadata
 * entries, manual capture half the time. It gives captures, refunds and cancels charges to act on.
 */
export const plainCreateChargeArb: fc.Arbitrary<CreateChargeSpec> = fc.record({
  amount: fc.integer({ min: 1, max: 100_000 }).map(String),
  currency: fc.constantFrom('usd', 'eur', 'jpy'),
  paymentMethod: fc.constantFrom('pm_card_visa', 'pm_card_visa', 'pm_card_mastercard', 'pm_card_amex', 'pm_card_chargeDeclined'),
  customerId: fc.constantFrom('', 'cus_1', 'customer-42').map((s) => new Text([...s], s.length)),
  description: fc.constantFrom('', 'order 17').map((s) => new Text([...s], s.length)),
  metadata: fc.integer({ min: 0, max: 3 }).map((n) => new MetadataSpec(n, new Text(['k'], 3), new Text(['v'], 5), [])),
  captureMethod: fc.constantFrom(CaptureMethod.CAPTURE_METHOD_AUTOMATIC, CaptureMethod.CAPTURE_METHOD_MANUAL),
});

export function createChargeRequest(s: CreateChargeSpec): CreateChargeRequest {
  return {
    amount: s.amount,
    currency: s.currency,
    paymentMethod: s.paymentMethod,
    customerId: s.customerId.value,
    description: s.description.value,
    metadata: s.metadata.entries(),
    captureMethod: s.captureMethod,
  };
}
