import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../../src/idempotency/idempotency-key.js';
import { IDEMPOTENCY_REFERENCE_KEY } from '../../src/payments/provider-reference.js';
import {
  CUSTOMER_ID_LIMIT,
  DESCRIPTION_LIMIT,
  MAX_AMOUNT,
  MAX_METADATA_ENTRIES,
  METADATA_KEY_LIMIT,
  METADATA_VALUE_LIMIT,
  PAYMENT_METHOD_LIMIT,
} from '../../src/payments/validation.js';

/**
 * One text limit. `chars` is tried both as UTF-16 units and as code points (they differ for
 * astral characters), `bytes` as UTF-8 bytes when there is a byte limit.
 */
export interface TextLimit {
  chars: number;
  bytes?: number;
}

/** The service's limits, read from its own constants so the generators follow every change. */
export const LIMITS = {
  amount: MAX_AMOUNT,
  metadataEntries: MAX_METADATA_ENTRIES,
  /** A metadata key the service keeps for itself. */
  reservedMetadataKey: IDEMPOTENCY_REFERENCE_KEY,
  idempotencyKey: MAX_IDEMPOTENCY_KEY_LENGTH,
  customerId: CUSTOMER_ID_LIMIT,
  description: DESCRIPTION_LIMIT,
  paymentMethod: PAYMENT_METHOD_LIMIT,
  metadataKey: METADATA_KEY_LIMIT,
  metadataValue: METADATA_VALUE_LIMIT,
} as const satisfies Record<string, number | string | TextLimit>;
