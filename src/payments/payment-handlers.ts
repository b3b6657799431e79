import type { Metadata } from '@grpc/grpc-js';
import { ApiError } from '../grpc/api-error.js';
import { merchantOf } from '../grpc/auth-interceptor.js';
import { unary } from '../grpc/unary-handler.js';
import { claimOf, type ClaimedRecord } from '../idempotency/claimed-record.js';
import { noteHandlerFailure } from '../idempotency/settle.js';
import type { PaymentServiceServer } from '../gen/payments/v1/payments.js';
import type { Logger } from '../logger.js';
import type { PaymentService } from './payment-service.js';

function merchant(metadata: Metadata): string {
  const id = merchantOf(metadata);
  if (id === undefined) throw ApiError.unauthenticated('missing API key');
  return id;
}

/**
 * Runs a mutating use case with its call's claim, and tells the claim what a
 * failure means for its row (a NeedsAttentionError or a storage error no retry
 * gets past parks it for an operator instead of re-sending it).
 */
async function withClaim<T>(md: Metadata, run: (claim: ClaimedRecord | undefined) => Promise<T>): Promise<T> {
  const claim = claimOf(md);
  try {
    return await run(claim);
  } catch (err) {
    noteHandlerFailure(claim, err);
    throw err;
  }
}

/** The grpc-js adapter of PaymentService: identity and claim come from the interceptors, never from the request. */
export function paymentHandlers(service: PaymentService, log: Logger): PaymentServiceServer {
  return {
    createCharge: unary(log, 'CreateCharge', (req, md) => withClaim(md, (claim) => service.createCharge(merchant(md), req, claim))),
    captureCharge: unary(log, 'CaptureCharge', (req, md) => withClaim(md, (claim) => service.captureCharge(merchant(md), req, claim))),
    refundCharge: unary(log, 'RefundCharge', (req, md) => withClaim(md, (claim) => service.refundCharge(merchant(md), req, claim))),
    cancelCharge: unary(log, 'CancelCharge', (req, md) => withClaim(md, (claim) => service.cancelCharge(merchant(md), req, claim))),
    getCharge: unary(log, 'GetCharge', (req, md) => service.getCharge(merchant(md), req)),
    listCharges: unary(log, 'ListCharges', (req, md) => service.listCharges(merchant(md), req)),
  };
}
