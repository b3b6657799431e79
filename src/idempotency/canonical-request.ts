import { canonicalBytes, FINGERPRINT_VERSION, fingerprintOf } from './fingerprint.js';
import { RawRequest } from './raw-response.js';
import type { KeyRecord } from './record.js';

/** Canonicalizing a decoded request failed: a bug or a schema problem, never the client's or the store's fault. */
export class CanonicalizationError extends Error {
  override name = 'CanonicalizationError';
}

/** What a claim stores about the request: computed only when a claim writes a row. */
export interface ClaimPayload {
  readonly fingerprint: Buffer;
  readonly fingerprintVersion: number;
  /** Canonical request bytes, kept so the background completer can resume the row. */
  readonly requestBody: Buffer;
}

/**
 * A keyed request's payload, canonical bytes and fingerprint computed on
 * first use. A retry whose client sent exactly the stored canonical bytes
 * (the usual retry: same client, same request) is matched byte for byte and
 * never re-encoded or hashed; any other retry is compared by fingerprint, so
 * reordered map entries, explicit defaults or unknown fields still match.
 */
export class CanonicalRequest implements ClaimPayload {
  readonly fingerprintVersion = FINGERPRINT_VERSION;
  private body: Buffer | undefined;
  private digest: Buffer | undefined;
  private validated: boolean;

  constructor(
    readonly method: string,
    /** The decoded request, or a RawRequest (decoded only when its payload is encoded or validated). */
    private readonly message: unknown,
    private readonly serialize: (value: unknown) => Uint8Array,
    /** The request as the client encoded it, when known (a RawRequest's bytes). */
    private readonly raw: Buffer | undefined,
    /**
     * Throws for a request that must be refused (validation). It runs before
     * the payload is first encoded, hashed or compared by fingerprint, so
     * before anything is written for it; a retry carrying exactly the bytes
     * of a stored request (which passed it when that request was claimed) is
     * matched without it.
     */
    private readonly validate?: () => void,
  ) {
    this.validated = validate === undefined;
  }

  /** Runs the validation once; throws what it throws. */
  ensureValid(): void {
    if (this.validated) return;
    this.validate?.();
    this.validated = true;
  }

  get requestBody(): Buffer {
    this.ensureValid();
    if (this.body === undefined) {
      // Bytes that do not decode are the client's error (RawRequest.message), not a canonicalization failure.
      const message = this.message instanceof RawRequest ? this.message.message : this.message;
      try {
        this.body = canonicalBytes(message, this.serialize);
      } catch (err) {
        throw new CanonicalizationError(`cannot canonicalize a ${this.method} request`, { cause: err });
      }
    }
    return this.body;
  }

  get fingerprint(): Buffer {
    this.digest ??= fingerprintOf(this.method, this.requestBody);
    return this.digest;
  }

  /**
   * True when `record` holds this payload (its method is compared separately).
   * Byte-identical to the stored canonical request: true without validation
   * (stored bytes are always a validated, re-encoded request, so they hold
   * only valid UTF-8 and every limit was checked); otherwise by fingerprint,
   * which validates first.
   */
  samePayloadAs(record: Pick<KeyRecord, 'fingerprint' | 'fingerprintVersion' | 'requestBody'>): boolean {
    if (record.fingerprintVersion !== this.fingerprintVersion) return false;
    // Equal bytes decode to the same message, whose canonical form is the stored one.
    if (this.raw !== undefined && record.requestBody !== null && this.raw.equals(record.requestBody)) return true;
    return this.fingerprint.equals(record.fingerprint);
  }
}
