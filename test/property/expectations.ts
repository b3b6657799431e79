import { CaptureMethod, type Charge, ChargeStatus, type CreateChargeRequest, RefundReason } from '../../src/gen/payments/v1/payments.js';
import { TEST_PAYMENT_METHODS } from '../../src/simulator/test-payment-methods.js';
import { measures } from './generators/text.js';
import { LIMITS, type TextLimit } from './limits.js';

/**
 * What the contract says about one request, as far as it is certain: `accept` (must be answered
 * OK), `refuse` (must be refused), or `either` where the contract leaves room (text that fits in
 * characters but maybe not in bytes, padded currency codes, a reused key).
 */
export type Expectation = 'accept' | 'refuse' | 'either';

const CURRENCIES = new Set(Intl.supportedValuesOf('currency').map((c) => c.toLowerCase()));
const CAPTURE_METHODS: readonly number[] = [
  CaptureMethod.CAPTURE_METHOD_UNSPECIFIED,
  CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
  CaptureMethod.CAPTURE_METHOD_MANUAL,
];
const REFUND_REASONS: readonly number[] = [
  RefundReason.REFUND_REASON_UNSPECIFIED,
  RefundReason.REFUND_REASON_DUPLICATE,
  RefundReason.REFUND_REASON_FRAUDULENT,
  RefundReason.REFUND_REASON_REQUESTED_BY_CUSTOMER,
];

/** Printable ASCII: one byte, one code point and one UTF-16 unit per character, so every way of counting agrees. */
const PLAIN = /^[\x20-\x7e]*$/;

// biome-ignore lint/suspicious/noControlCharactersInRegex: it looks for control characters on purpose
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

type Fit = 'fits' | 'over' | 'unsure';

/**
 * Limits count code points and UTF-8 bytes (validation.ts). Over in code points is over however
 * characters are counted; plain text within the limit fits; other text fits only within a known
 * byte limit, and control characters may fairly be refused.
 */
function fitOf(s: string, limit: TextLimit): Fit {
  const m = measures(s);
  if (m.codePoints > limit.chars || (limit.bytes !== undefined && m.utf8 > limit.bytes)) return 'over';
  if (PLAIN.test(s)) return 'fits';
  return limit.bytes !== undefined && !CONTROL.test(s) ? 'fits' : 'unsure';
}

function combine(expectations: Expectation[]): Expectation {
  if (expectations.includes('refuse')) return 'refuse';
  return expectations.includes('either') ? 'either' : 'accept';
}

function amountWithin(raw: string | undefined, max: number): boolean {
  if (raw === undefined || !/^-?[0-9]+$/.test(raw)) return false;
  const n = BigInt(raw);
  return n >= 1n && n <= BigInt(max);
}

function currency(raw: string): Expectation {
  const c = raw.trim().toLowerCase();
  if (!/^[a-z]{3}$/.test(c) || !CURRENCIES.has(c)) return 'refuse';
  return c === raw.toLowerCase() ? 'accept' : 'either';
}

function text(s: string, limit: TextLimit): Expectation {
  const f = fitOf(s, limit);
  return f === 'over' ? 'refuse' : f === 'fits' ? 'accept' : 'either';
}

export function expectCreate(req: CreateChargeRequest): Expectation {
  const entries = Object.entries(req.metadata);
  if (!amountWithin(req.amount, LIMITS.amount) || !CAPTURE_METHODS.includes(req.captureMethod)) return 'refuse';
  if (!TEST_PAYMENT_METHODS.has(req.paymentMethod) || entries.length > LIMITS.metadataEntries) return 'refuse';
  if (entries.some(([k]) => k === '' || /[[\]]/.test(k) || k === LIMITS.reservedMetadataKey)) return 'refuse';
  return combine([
    currency(req.currency),
    text(req.customerId, LIMITS.customerId),
    text(req.description, LIMITS.description),
    ...entries.flatMap(([k, v]) => [text(k, LIMITS.metadataKey), text(v, LIMITS.metadataValue)]),
  ]);
}

/** `charge` is the target as this scenario last saw it, undefined when it is not this merchant's. */
export function expectCapture(charge: Charge | undefined, amount: string | undefined): Expectation {
  if (charge?.status !== ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE) return 'refuse';
  return amount === undefined || amountWithin(amount, Number(charge.amount)) ? 'accept' : 'refuse';
}

export function expectRefund(charge: Charge | undefined, amount: string | undefined, reason: number): Expectation {
  if (!REFUND_REASONS.includes(reason)) return 'refuse';
  if (charge?.status !== ChargeStatus.CHARGE_STATUS_SUCCEEDED && charge?.status !== ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED) return 'refuse';
  const refundable = Number(charge.amountCaptured) - Number(charge.amountRefunded);
  if (amount === undefined) return refundable > 0 ? 'accept' : 'refuse';
  return amountWithin(amount, refundable) ? 'accept' : 'refuse';
}

export function expectCancel(charge: Charge | undefined): Expectation {
  return charge?.status === ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE ? 'accept' : 'refuse';
}
