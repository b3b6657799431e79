import { randomBytes } from 'node:crypto';

/** 192 random bits: well past the 128 that make a collision between two logical calls negligible. */
const KEY_BYTES = 24;

/**
 * A fresh idempotency key for one logical call: 32 base64url characters, inside the server's
 * limits (1 to 255 printable ASCII characters).
 */
export function newIdempotencyKey(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}
