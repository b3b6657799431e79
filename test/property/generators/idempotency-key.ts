import fc from 'fast-check';
import { LIMITS } from '../limits.js';
import { Text } from './text.js';

/** Printable ASCII except ',' (a repeated header joins its values with commas, so the service refuses it). */
const KEY_CHARS = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => c !== ',');

/**
 * How a step sends its idempotency key. Valid keys are made unique per step (Text.unique), so two
 * steps share a key only when a step reuses an earlier one on purpose.
 */
export type KeySpec =
  | { kind: 'valid'; text: Text }
  /** The key of an earlier step (index modulo the steps so far), with this step's own request. */
  | { kind: 'reuse'; step: number }
  | { kind: 'missing' }
  | { kind: 'empty' }
  | { kind: 'tooLong'; text: Text }
  | { kind: 'comma' }
  | { kind: 'twice' }
  /** A value grpc-js's client will not send (tab, DEL, bytes 0x80-0xff): sent over bare HTTP/2. */
  | { kind: 'nonPrintable'; value: string };

export function isValidKind(k: KeySpec): boolean {
  return k.kind === 'valid' || k.kind === 'reuse';
}

const keyPattern = fc.oneof(
  fc.constantFrom(...KEY_CHARS).map((c) => [c]),
  fc.array(fc.constantFrom(...KEY_CHARS), { minLength: 2, maxLength: 6 }),
);

/** Valid keys: 1 to the maximum printable ASCII characters, the maximum and short ones more often. */
export const validKeyArb: fc.Arbitrary<KeySpec> = fc
  .tuple(keyPattern, fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(LIMITS.idempotencyKey), fc.integer({ min: 1, max: LIMITS.idempotencyKey })))
  .map(([pattern, count]) => ({ kind: 'valid', text: new Text(pattern, count) }));

/** Keys the service must refuse with INVALID_ARGUMENT before anything else happens. */
export const invalidKeyArb: fc.Arbitrary<KeySpec> = fc.oneof(
  fc.constant<KeySpec>({ kind: 'missing' }),
  fc.constant<KeySpec>({ kind: 'empty' }),
  fc.constant<KeySpec>({ kind: 'comma' }),
  fc.constant<KeySpec>({ kind: 'twice' }),
  fc
    .tuple(keyPattern, fc.integer({ min: LIMITS.idempotencyKey + 1, max: LIMITS.idempotencyKey + 10 }))
    .map(([pattern, count]): KeySpec => ({ kind: 'tooLong', text: new Text(pattern, count) })),
  fc
    .tuple(fc.constantFrom('\t', '\u0080', '\u00e9', '\u00ff'), fc.string({ unit: 'grapheme-ascii', maxLength: 8 }))
    .map(([bad, rest]): KeySpec => ({ kind: 'nonPrintable', value: `k${rest.replace(/,/g, '')}${bad}x` })),
);

export const keyArb: fc.Arbitrary<KeySpec> = fc.oneof(
  { arbitrary: validKeyArb, weight: 12 },
  { arbitrary: fc.nat({ max: 20 }).map((step): KeySpec => ({ kind: 'reuse', step })), weight: 1 },
  { arbitrary: invalidKeyArb, weight: 2 },
);
