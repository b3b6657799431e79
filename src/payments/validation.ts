import { ApiError } from '../grpc/api-error.js';

/** Stripe's own upper bound for one charge (99,999,999 minor units, e.g. $999,999.99). */
export const MAX_AMOUNT = 99_999_999;
/**
 * Text limits. A length is counted in characters (Unicode code points, as
 * MySQL's VARCHAR and Stripe count them) AND in UTF-8 bytes (as TEXT columns,
 * indexes and the provider's form body count them); a value must be within
 * both. The byte limits are what the columns hold at 4 bytes a character:
 * `column-fit.test.ts` derives from the live schema that the largest value
 * each limit accepts fits its column, so no accepted request can fail to be
 * stored after the provider charged it.
 *
 * Metadata limits are Stripe's (50 keys, keys up to 40 characters, values up to 500), less the
 * one key the service adds to every provider object (see provider-reference.ts).
 */
export const MAX_METADATA_ENTRIES = 49;
export const MAX_METADATA_KEY_LENGTH = 40;
export const MAX_METADATA_KEY_BYTES = 160;
export const MAX_METADATA_VALUE_LENGTH = 500;
export const MAX_METADATA_VALUE_BYTES = 2000;
export const MAX_CUSTOMER_ID_LENGTH = 255;
export const MAX_CUSTOMER_ID_BYTES = 1020;
export const MAX_DESCRIPTION_LENGTH = 1000;
export const MAX_DESCRIPTION_BYTES = 4000;
export const MAX_PAYMENT_METHOD_LENGTH = 255;
export const MAX_PAYMENT_METHOD_BYTES = 1020;

/** A text field's limits: characters (code points) and UTF-8 bytes. */
export interface TextLimit {
  chars: number;
  bytes: number;
}
export const PAYMENT_METHOD_LIMIT: TextLimit = { chars: MAX_PAYMENT_METHOD_LENGTH, bytes: MAX_PAYMENT_METHOD_BYTES };
export const CUSTOMER_ID_LIMIT: TextLimit = { chars: MAX_CUSTOMER_ID_LENGTH, bytes: MAX_CUSTOMER_ID_BYTES };
export const DESCRIPTION_LIMIT: TextLimit = { chars: MAX_DESCRIPTION_LENGTH, bytes: MAX_DESCRIPTION_BYTES };
export const METADATA_KEY_LIMIT: TextLimit = { chars: MAX_METADATA_KEY_LENGTH, bytes: MAX_METADATA_KEY_BYTES };
export const METADATA_VALUE_LIMIT: TextLimit = { chars: MAX_METADATA_VALUE_LENGTH, bytes: MAX_METADATA_VALUE_BYTES };

/** Code points of a string (a surrogate pair is one character). */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Why `raw` exceeds `limit` ("N characters" or "N bytes"), or undefined when it fits. */
function overLimit(raw: string, limit: TextLimit): string | undefined {
  // Fast path: a string of at most chars/4 UTF-16 units cannot exceed either limit.
  if (raw.length <= Math.min(limit.chars, limit.bytes / 4)) return undefined;
  const chars = codePointLength(raw);
  if (chars > limit.chars) return `must be at most ${limit.chars} characters, got ${chars}`;
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes > limit.bytes) return `must be at most ${limit.bytes} bytes in UTF-8, got ${bytes}`;
  return undefined;
}

const CURRENCIES = new Set(Intl.supportedValuesOf('currency').map((c) => c.toLowerCase()));

/** A client's text quoted back in a message: at most 40 characters, so messages stay short. */
function quote(s: string): string {
  const points = Array.from(s);
  return JSON.stringify(points.length > 40 ? `${points.slice(0, 40).join('')}…` : s);
}

function field(name: string, message: string): ApiError {
  return ApiError.invalidArgument(`${name}: ${message}`, { reason: 'FIELD_INVALID', metadata: { field: name } });
}

/** Parses an int64 amount (a decimal string) into a positive safe integer within MAX_AMOUNT. */
export function parseAmount(name: string, raw: string | undefined): number {
  if (raw === undefined || raw === '' || raw === '0') throw field(name, 'must be greater than 0 (minor units, e.g. 1500 for 15.00)');
  if (!/^-?[0-9]+$/.test(raw)) throw field(name, `must be an integer, got "${raw}"`);
  if (raw.startsWith('-')) throw field(name, `must be greater than 0, got ${raw}`);
  const n = Number(raw);
  if (n > MAX_AMOUNT) throw field(name, `must be at most ${MAX_AMOUNT} minor units, got ${raw}`);
  return n;
}

export function parseCurrency(raw: string): string {
  const c = raw.trim().toLowerCase();
  if (c === '') throw field('currency', 'is required (ISO 4217 code such as "usd")');
  if (!/^[a-z]{3}$/.test(c) || !CURRENCIES.has(c)) throw field('currency', `"${raw}" is not an ISO 4217 currency code`);
  return c;
}

/** A limit given as a number of characters allows 4 UTF-8 bytes for each. */
function asLimit(limit: TextLimit | number): TextLimit {
  return typeof limit === 'number' ? { chars: limit, bytes: limit * 4 } : limit;
}

export function requireText(name: string, raw: string, limit: TextLimit | number): string {
  if (raw.trim() === '') throw field(name, 'is required');
  return optionalText(name, raw, limit);
}

export function optionalText(name: string, raw: string, limit: TextLimit | number): string {
  const over = overLimit(raw, asLimit(limit));
  if (over !== undefined) throw field(name, over);
  return raw;
}

export function validateMetadata(metadata: Record<string, string>): Record<string, string> {
  const keys = Object.keys(metadata);
  if (keys.length > MAX_METADATA_ENTRIES) throw field('metadata', `at most ${MAX_METADATA_ENTRIES} entries, got ${keys.length}`);
  const out: Record<string, string> = {};
  for (const k of keys.sort()) {
    const v = metadata[k] ?? '';
    if (k === '') throw field('metadata', 'keys must not be empty');
    const keyOver = overLimit(k, METADATA_KEY_LIMIT);
    if (keyOver !== undefined) throw field('metadata', `key ${quote(k)}: ${keyOver}`);
    if (/[[\]]/.test(k)) throw field('metadata', `key ${quote(k)} must not contain square brackets`);
    const valueOver = overLimit(v, METADATA_VALUE_LIMIT);
    if (valueOver !== undefined) throw field('metadata', `value of ${quote(k)}: ${valueOver}`);
    out[k] = v;
  }
  return out;
}

export function requireChargeId(raw: string): string {
  if (raw.trim() === '') throw field('charge_id', 'is required');
  if (raw.length > 40 || !/^ch_[A-Za-z0-9_-]+$/.test(raw)) throw ApiError.notFound(`charge_id: no charge ${quote(raw)}`);
  return raw;
}
