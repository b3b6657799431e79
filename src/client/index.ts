/**
 * The public entry point of the client library (`exactly-once-payments/client`): the client, its
 * options, results and error, and the generated message types it takes and returns.
 */

export { status as Code } from '@grpc/grpc-js';
export {
  type CancelChargeRequest,
  type CaptureChargeRequest,
  CaptureMethod,
  type Charge,
  ChargeStatus,
  type CreateChargeRequest,
  type GetChargeRequest,
  type ListChargesRequest,
  type ListChargesResponse,
  type Refund,
  type RefundChargeRequest,
  RefundReason,
  RefundStatus,
} from '../gen/payments/v1/payments.js';
export { type CallResult, EXPIRES_AT_HEADER, REPLAYED_HEADER } from './call-result.js';
export type { TlsOptions } from './client-credentials.js';
export type { ClientEvent, ClientLogger } from './client-event.js';
export { type CallOptions, DEFAULT_DEADLINE_MS, type PaymentsClientOptions } from './client-options.js';
export { newIdempotencyKey } from './idempotency-key.js';
export { PaymentsClient } from './payments-client.js';
export { PaymentsError } from './payments-error.js';
export { isRetryable, KEY_IN_USE_REASON } from './retry-decision.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';
