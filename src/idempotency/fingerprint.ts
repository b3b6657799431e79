import { hash } from 'node:crypto';

/** Bump when the canonical form changes; stored beside every fingerprint. */
export const FINGERPRINT_VERSION = 1;

/**
 * Returns a copy of a decoded ts-proto message in which every plain object
 * (messages and maps alike) has its keys in sorted order. ts-proto encodes
 * message fields in field-number order whatever the key order, but it writes
 * map entries in insertion order; sorting makes map order irrelevant.
 */
export function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = canonicalize((value as Record<string, unknown>)[k]);
  return out;
}

/**
 * SHA-256 over the version, the full method path and the canonical encoding
 * of the decoded request. Re-encoding the decoded message drops unknown
 * fields and default values and normalises field order and packing, so the
 * same logical request has the same fingerprint from any client language.
 */
export function fingerprint(method: string, request: unknown, serialize: (value: unknown) => Uint8Array): Buffer {
  return fingerprintOf(method, canonicalBytes(request, serialize));
}

/** The canonical encoding of a decoded request (also what a resumed attempt decodes again). */
export function canonicalBytes(request: unknown, serialize: (value: unknown) => Uint8Array): Buffer {
  const bytes = serialize(canonicalize(request));
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const prefixes = new Map<string, Buffer>();

export function fingerprintOf(method: string, canonical: Uint8Array): Buffer {
  let prefix = prefixes.get(method);
  if (!prefix) {
    prefix = Buffer.from(`v${FINGERPRINT_VERSION}\n${method}\n`, 'utf8');
    prefixes.set(method, prefix);
  }
  // One-shot hashing: no Hash object per request (this runs on every keyed call, replays included).
  return hash('sha256', Buffer.concat([prefix, canonical]), 'buffer');
}
