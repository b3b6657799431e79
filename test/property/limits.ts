import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../../src/idempotency/idempotency-key.js';
import {
  MAX_AMOUNT,
  MAX_CUSTOMER_ID_LENGTH,
  MAX_DESCRIPTION_LENGTH,
  MAX_METADATA_ENTRIES,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_VALUE_LENGTH,
  MAX_PAYMENT_METHOD_LENGTH,
} from '../../src/payments/validation.js';

/**
 * One text limit as validation states it. `chars` is tried both as UTF-16 units and as code
 * points (they differ for astral characters), `utf8Bytes` as UTF-8 bytes when validation has one.
 */
export interface TextLimit {
  chars: number;
  utf8Bytes?: number;
}

/** The service's limits, read from its own constants so the generators follow every change. */
export const LIMITS = {
  amount: MAX_AMOUNT,
  metadataEntries: MAX_METADATA_ENTRIES,
  idempotencyKey: MAX_IDEMPOTENCY_KEY_LENGTH,
  customerId: { chars: MAX_CUSTOMER_ID_LENGTH },
  description: { chars: MAX_DESCRIPTION_LENGTH },
  paymentMethod: { chars: MAX_PAYMENT_METHOD_LENGTH },
  metadataKey: { chars: MAX_METADATA_KEY_LENGTH },
  metadataValue: { chars: MAX_METADATA_VALUE_LENGTH },
} as const satisfies Record<string, number | TextLimit>;
