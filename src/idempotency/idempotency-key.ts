import type { Metadata } from '@grpc/grpc-js';
import { ApiError } from '../grpc/api-error.js';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

function invalid(message: string): ApiError {
  return ApiError.invalidArgument(message, { reason: 'IDEMPOTENCY_KEY_INVALID', metadata: { header: IDEMPOTENCY_KEY_HEADER } });
}

/** The request's idempotency key: exactly one value of 1–255 printable ASCII characters. */
export function readIdempotencyKey(metadata: Metadata): string {
  const values = metadata.get(IDEMPOTENCY_KEY_HEADER);
  if (values.length === 0) {
    throw invalid(
      `missing idempotency key (a value that is not printable ASCII, or that starts or ends with a space, is dropped in transit): send metadata "${IDEMPOTENCY_KEY_HEADER}" with a unique value per logical operation (e.g. a UUID)`,
    );
  }
  if (values.length > 1) throw invalid(`"${IDEMPOTENCY_KEY_HEADER}" was sent ${values.length} times; send it exactly once`);
  const value = values[0];
  if (typeof value !== 'string') throw invalid(`"${IDEMPOTENCY_KEY_HEADER}" must be text, not binary`);
  if (value.length === 0) throw invalid(`"${IDEMPOTENCY_KEY_HEADER}" is empty; send 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters`);
  if (value.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalid(`"${IDEMPOTENCY_KEY_HEADER}" is ${value.length} characters long; the maximum is ${MAX_IDEMPOTENCY_KEY_LENGTH}`);
  }
  if (!/^[\x20-\x7e]+$/.test(value)) throw invalid(`"${IDEMPOTENCY_KEY_HEADER}" must contain only printable ASCII characters`);
  // HTTP/2 may strip spaces at either end of a header value in transit, so "k" and " k" could
  // arrive as one key: refused, should any arrive, rather than let two keys collide.
  if (value !== value.trim()) throw invalid(`"${IDEMPOTENCY_KEY_HEADER}" must not start or end with a space`);
  // HTTP/2 and gRPC join a header sent several times into one value with
  // commas, so a comma cannot be told apart from a repeated header.
  if (value.includes(',')) throw invalid(`"${IDEMPOTENCY_KEY_HEADER}" must be sent exactly once and must not contain ","`);
  return value;
}

/** One string per (scope, key) for in-process maps: keys are printable ASCII and scopes merchant ids, so neither holds NUL. */
export function scopedKey(scope: string, key: string): string {
  return `${scope}\u0000${key}`;
}
