/**
 * Opaque, authenticated page tokens for ListCharges.
 *
 * A token carries the `seq` of the last charge of a page (the keyset cursor), and nothing a
 * client can read: `seq` is global across merchants, so a readable cursor would let any merchant
 * watch the platform's charge rate. Layout (32 bytes, 43 base64url characters for every filter):
 *
 *   block = AES-256(encKey, version ‖ seq as uint64 BE ‖ 7 zero bytes)     16 bytes
 *   tag   = HMAC-SHA256(macKey, PURPOSE ‖ block ‖ merchantId ‖ 0x00 ‖ SHA-256(customer filter))[0..16)
 *   token = base64url(block ‖ tag)
 *
 * Encrypting one block under AES is a pseudorandom permutation of the cursor: deterministic
 * (the same page gives the same token) and, unlike a random-nonce mode, with no nonce that could
 * repeat however many tokens one key seals. The MAC binds the token to the merchant and to the
 * filter (through a fixed-size hash, so the token's length never depends on the filter) and is
 * checked before the block is decrypted (encrypt-then-MAC). Both keys are derived from one
 * 32-byte server key with HKDF, so one secret configures the whole scheme.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** Length in bytes of the server key (AES-256 and an HMAC-SHA256 key of full strength). */
export const PAGE_TOKEN_KEY_BYTES = 32;

const VERSION = 1;
const BLOCK_BYTES = 16;
/** 128 bits of tag: a forger's chance per guess is 2^-128. */
const TAG_BYTES = 16;
const TOKEN_BYTES = BLOCK_BYTES + TAG_BYTES;
/** base64url of TOKEN_BYTES without padding. */
const TOKEN_CHARS = Math.ceil((TOKEN_BYTES * 8) / 6);
/** Domain separation: a token sealed for another purpose (a future list endpoint) never verifies here. */
const PURPOSE = Buffer.from('payments.v1.ListCharges page token\0');
const HKDF_SALT = Buffer.from('payments page tokens');
const MAX_SEQ = 2n ** 64n - 1n;

/** What a token is bound to: only the same merchant with the same filter may use it. */
export interface PageScope {
  merchantId: string;
  /** The `customer_id` filter ('' for none). */
  customerId: string;
}

/** The token is malformed, tampered with, or was issued for another merchant or filter. */
export class InvalidPageTokenError extends Error {
  override name = 'InvalidPageTokenError';
}

/** Seals and opens page tokens with one server key. */
export class PageTokens {
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== PAGE_TOKEN_KEY_BYTES) throw new Error(`a page token key must be ${PAGE_TOKEN_KEY_BYTES} bytes, got ${key.length}`);
    this.encKey = Buffer.from(hkdfSync('sha256', key, HKDF_SALT, 'aes-256 cursor', 32));
    this.macKey = Buffer.from(hkdfSync('sha256', key, HKDF_SALT, 'hmac-sha256 scope', 32));
  }

  /** The token for the page after the charge with this `seq` (a decimal string, as MySQL returns BIGINT UNSIGNED). */
  seal(seq: string, scope: PageScope): string {
    const value = BigInt(seq);
    if (value < 0n || value > MAX_SEQ) throw new Error(`seq out of range: ${seq}`);
    const plain = Buffer.alloc(BLOCK_BYTES);
    plain.writeUInt8(VERSION, 0);
    plain.writeBigUInt64BE(value, 1);
    const cipher = createCipheriv('aes-256-ecb', this.encKey, null).setAutoPadding(false);
    const block = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([block, this.tag(block, scope)]).toString('base64url');
  }

  /** The `seq` a token carries; throws InvalidPageTokenError for anything this server did not issue for `scope`. */
  open(token: string, scope: PageScope): string {
    if (token.length !== TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) throw new InvalidPageTokenError('malformed page token');
    const bytes = Buffer.from(token, 'base64url');
    // A non-canonical encoding (stray low bits in the last character) decodes to the same bytes;
    // refuse it so that exactly one string is valid for each token.
    if (bytes.length !== TOKEN_BYTES || bytes.toString('base64url') !== token) throw new InvalidPageTokenError('malformed page token');
    const block = bytes.subarray(0, BLOCK_BYTES);
    if (!timingSafeEqual(bytes.subarray(BLOCK_BYTES), this.tag(block, scope))) {
      throw new InvalidPageTokenError('page token not issued for this merchant and filter');
    }
    const decipher = createDecipheriv('aes-256-ecb', this.encKey, null).setAutoPadding(false);
    const plain = Buffer.concat([decipher.update(block), decipher.final()]);
    // Authentic tokens always pass this; it only guards against a future version sharing the key.
    if (plain.readUInt8(0) !== VERSION || !plain.subarray(9).equals(Buffer.alloc(BLOCK_BYTES - 9))) {
      throw new InvalidPageTokenError('unsupported page token version');
    }
    return plain.readBigUInt64BE(1).toString();
  }

  private tag(block: Uint8Array, scope: PageScope): Buffer {
    const filterHash = createHash('sha256').update(scope.customerId, 'utf8').digest();
    return createHmac('sha256', this.macKey)
      .update(PURPOSE)
      .update(block)
      .update(scope.merchantId, 'utf8')
      .update(Buffer.from([0]))
      .update(filterHash)
      .digest()
      .subarray(0, TAG_BYTES);
  }
}
