/**
 * The public entry point of the client library (`exactly-once-payments/client`): the client, its
 * options, results and error, and the generated message types it takes and returns.
 */
export { PaymentsClient } from './payments-client.js';
export { DEFAULT_DEADLINE_MS, type CallOptions, type PaymentsClientOptions } from './client-options.js';
export type { TlsOptions } from './client-credentials.js';
export type { ClientEvent, ClientLogger } from './client-event.js';
export { EXPIRES_AT_HEADER, REPLAYED_HEADER, type CallResult } from './call-result.js';
export { PaymentsError } from './payments-error.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';
export { KEY_IN_USE_REASON, isRetryable } from './retry-decision.js';
export { newIdempotencyKey } from './idempotency-key.js';
export { status as Code } from '@grpc/grpc-js';
export {
  CaptureMethod,
  ChargeStatus,
  RefundReason,
  RefundStatus,
  type CancelChargeRequest,
  type CaptureChargeRequest,
  type Charge,
  type CreateChargeRequest,
  type GetChargeRequest,
  type ListChargesRequest,
  type ListChargesResponse,
  type Refund,
  type RefundChargeRequest,
} from '../gen/payments/v1/payments.js';
