import {
  CancelChargeRequest,
  CaptureChargeRequest,
  CreateChargeRequest,
  PaymentServiceService,
  RefundChargeRequest,
} from '../gen/payments/v1/payments.js';
import type { ResumableMethod } from '../idempotency/background-completer.js';
import type { PaymentService } from './payment-service.js';

/** How the background completer re-runs each mutating RPC from its stored canonical request. */
export function resumableMethods(service: PaymentService): ResumableMethod[] {
  const s = PaymentServiceService;
  return [
    {
      path: s.createCharge.path,
      resume: (scope, bytes, claim) => service.createCharge(scope, CreateChargeRequest.decode(bytes), claim),
      responseSerialize: (v) => s.createCharge.responseSerialize(v as Parameters<typeof s.createCharge.responseSerialize>[0]),
    },
    {
      path: s.captureCharge.path,
      resume: (scope, bytes, claim) => service.captureCharge(scope, CaptureChargeRequest.decode(bytes), claim),
      responseSerialize: (v) => s.captureCharge.responseSerialize(v as Parameters<typeof s.captureCharge.responseSerialize>[0]),
    },
    {
      path: s.refundCharge.path,
      resume: (scope, bytes, claim) => service.refundCharge(scope, RefundChargeRequest.decode(bytes), claim),
      responseSerialize: (v) => s.refundCharge.responseSerialize(v as Parameters<typeof s.refundCharge.responseSerialize>[0]),
    },
    {
      path: s.cancelCharge.path,
      resume: (scope, bytes, claim) => service.cancelCharge(scope, CancelChargeRequest.decode(bytes), claim),
      responseSerialize: (v) => s.cancelCharge.responseSerialize(v as Parameters<typeof s.cancelCharge.responseSerialize>[0]),
    },
  ];
}
