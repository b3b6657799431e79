import type { Metadata } from '@grpc/grpc-js';
import type { PaymentServiceServer } from '../gen/payments/v1/payments.js';
import { ApiError } from '../grpc/api-error.js';
import { merchantOf } from '../grpc/auth-interceptor.js';
import { unary } from '../grpc/unary-handler.js';
import { claimOf } from '../idempotency/claimed-record.js';
import { noteHandlerFailure } from '../idempotency/settle.js';
import type { Logger } from '../logger.js';
import type { PaymentClaim } from './payment-claim.js';
import type { PaymentService } from './payment-service.js';

/** Runs a mutating use case with the claim of its call. */
export type ClaimedCall = <T>(md: Metadata, run: (claim: PaymentClaim) => Promise<T>) => Promise<T>;

function merchant(metadata: Metadata): string {
  const id = merchantOf(metadata);
  if (id === undefined) throw ApiError.unauthenticated('missing API key');
  return id;
}

/**
 * Runs a mutating use case with the claim the idempotency interceptor attached to its call, and
 * tells the claim what a failure means for its row (a NeedsAttentionError or a storage error no
 * retry gets past parks it for an operator instead of re-sending it).
 */
export async function withInterceptorClaim<T>(md: Metadata, run: (claim: PaymentClaim) => Promise<T>): Promise<T> {
  const claim = claimOf(md);
  if (!claim) throw new Error('mutating call without a claimed idempotency record');
  try {
    return await run(claim);
  } catch (err) {
    noteHandlerFailure(claim, err);
    throw err;
  }
}

/**
 * The grpc-js adapter of PaymentService: identity and claim come from the interceptors, never
 * from the request. `withClaim` supplies each mutating call's claim (by default the one the
 * idempotency interceptor attached).
 */
export function paymentHandlers(service: PaymentService, log: Logger, withClaim: ClaimedCall = withInterceptorClaim): PaymentServiceServer {
  return {
    createCharge: unary(log, 'CreateCharge', (req, md) => withClaim(md, (claim) => service.createCharge(merchant(md), req, claim))),
    captureCharge: unary(log, 'CaptureCharge', (req, md) => withClaim(md, (claim) => service.captureCharge(merchant(md), req, claim))),
    refundCharge: unary(log, 'RefundCharge', (req, md) => withClaim(md, (claim) => service.refundCharge(merchant(md), req, claim))),
    cancelCharge: unary(log, 'CancelCharge', (req, md) => withClaim(md, (claim) => service.cancelCharge(merchant(md), req, claim))),
    getCharge: unary(log, 'GetCharge', (req, md) => service.getCharge(merchant(md), req)),
    listCharges: unary(log, 'ListCharges', (req, md) => service.listCharges(merchant(md), req)),
  };
}
