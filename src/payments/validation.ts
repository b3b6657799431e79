import { ApiError } from '../grpc/api-error.js';

/** Stripe's own upper bound for one charge (99,999,999 minor units, e.g. $999,999.99). */
export const MAX_AMOUNT = 99_999_999;
/** Metadata limits, as Stripe's: 50 keys, keys up to 40 characters, values up to 500. */
export const MAX_METADATA_ENTRIES = 50;
export const MAX_METADATA_KEY_LENGTH = 40;
export const MAX_METADATA_VALUE_LENGTH = 500;
export const MAX_CUSTOMER_ID_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 1000;
export const MAX_PAYMENT_METHOD_LENGTH = 255;

const CURRENCIES = new Set(Intl.supportedValuesOf('currency').map((c) => c.toLowerCase()));

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

export function requireText(name: string, raw: string, max: number): string {
  if (raw.trim() === '') throw field(name, 'is required');
  return optionalText(name, raw, max);
}

export function optionalText(name: string, raw: string, max: number): string {
  if (raw.length > max) throw field(name, `must be at most ${max} characters, got ${raw.length}`);
  return raw;
}

export function validateMetadata(metadata: Record<string, string>): Record<string, string> {
  const keys = Object.keys(metadata);
  if (keys.length > MAX_METADATA_ENTRIES) throw field('metadata', `at most ${MAX_METADATA_ENTRIES} entries, got ${keys.length}`);
  const out: Record<string, string> = {};
  for (const k of keys.sort()) {
    const v = metadata[k] ?? '';
    if (k === '') throw field('metadata', 'keys must not be empty');
    if (k.length > MAX_METADATA_KEY_LENGTH) throw field('metadata', `key "${k.slice(0, 50)}" is longer than ${MAX_METADATA_KEY_LENGTH} characters`);
    if (/[[\]]/.test(k)) throw field('metadata', `key "${k}" must not contain square brackets`);
    if (v.length > MAX_METADATA_VALUE_LENGTH) throw field('metadata', `value of "${k}" is longer than ${MAX_METADATA_VALUE_LENGTH} characters`);
    out[k] = v;
  }
  return out;
}

export function requireChargeId(raw: string): string {
  if (raw.trim() === '') throw field('charge_id', 'is required');
  if (raw.length > 40 || !/^ch_[A-Za-z0-9_-]+$/.test(raw)) throw ApiError.notFound(`charge_id: no charge "${raw.slice(0, 60)}"`);
  return raw;
}
