import type { Metadata } from '@grpc/grpc-js';
import { ApiError } from '../grpc/api-error.js';
import { merchantOf } from '../grpc/auth-interceptor.js';
import { unary } from '../grpc/unary-handler.js';
import { claimOf } from '../idempotency/claimed-record.js';
import type { PaymentServiceServer } from '../gen/payments/v1/payments.js';
import type { Logger } from '../logger.js';
import type { PaymentService } from './payment-service.js';

function merchant(metadata: Metadata): string {
  const id = merchantOf(metadata);
  if (id === undefined) throw ApiError.unauthenticated('missing API key');
  return id;
}

/** The grpc-js adapter of PaymentService: identity and claim come from the interceptors, never from the request. */
export function paymentHandlers(service: PaymentService, log: Logger): PaymentServiceServer {
  return {
    createCharge: unary(log, 'CreateCharge', (req, md) => service.createCharge(merchant(md), req, claimOf(md))),
    captureCharge: unary(log, 'CaptureCharge', (req, md) => service.captureCharge(merchant(md), req, claimOf(md))),
    refundCharge: unary(log, 'RefundCharge', (req, md) => service.refundCharge(merchant(md), req, claimOf(md))),
    cancelCharge: unary(log, 'CancelCharge', (req, md) => service.cancelCharge(merchant(md), req, claimOf(md))),
    getCharge: unary(log, 'GetCharge', (req, md) => service.getCharge(merchant(md), req)),
    listCharges: unary(log, 'ListCharges', (req, md) => service.listCharges(merchant(md), req)),
  };
}
