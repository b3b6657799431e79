import { ApiError } from '../grpc/api-error.js';

/**
 * The metadata entry every provider object this service creates carries (PaymentIntents and
 * refunds): the provider idempotency key of the request that created it. A provider forgets
 * idempotency keys after a window (Stripe: about 24 h); this reference is how an attempt resumed
 * after that window finds what an earlier attempt created instead of creating it again.
 */
export const IDEMPOTENCY_REFERENCE_KEY = 'idempotency_reference';

/** Stripe's limit on metadata keys per object; the reference takes one of them. */
export const PROVIDER_MAX_METADATA_KEYS = 50;

/**
 * Refuses merchant metadata that would clash with the reference: the reserved key itself (the
 * merchant's value would be overwritten, or would point the lookup at another payment), or so many
 * entries that the reference would push the object past the provider's limit.
 */
export function checkMerchantMetadata(metadata: Record<string, string>): void {
  if (Object.hasOwn(metadata, IDEMPOTENCY_REFERENCE_KEY)) {
    throw ApiError.invalidArgument(`metadata: the key "${IDEMPOTENCY_REFERENCE_KEY}" is reserved by the service; use another key`, {
      reason: 'FIELD_INVALID',
      metadata: { field: 'metadata' },
    });
  }
  const entries = Object.keys(metadata).length;
  if (entries > PROVIDER_MAX_METADATA_KEYS - 1) {
    throw ApiError.invalidArgument(
      `metadata: at most ${PROVIDER_MAX_METADATA_KEYS - 1} entries (the provider allows ${PROVIDER_MAX_METADATA_KEYS} and the service uses one), got ${entries}`,
      { reason: 'FIELD_INVALID', metadata: { field: 'metadata' } },
    );
  }
}
