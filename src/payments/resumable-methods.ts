import { PaymentServiceService } from '../gen/payments/v1/payments.js';
import type { ResumableMethod } from '../idempotency/background-completer.js';
import type { ClaimedRecord } from '../idempotency/claimed-record.js';
import type { PaymentService } from './payment-service.js';

interface MethodDefinition<Req, Res> {
  path: string;
  requestDeserialize(bytes: Buffer): Req;
  responseSerialize(value: Res): Buffer;
}

/** Adapts one generated method definition and its use case to the completer's shape. */
function resumable<Req, Res>(def: MethodDefinition<Req, Res>, run: (scope: string, request: Req, claim: ClaimedRecord) => Promise<Res>): ResumableMethod {
  return {
    path: def.path,
    resume: (scope, bytes, claim) => run(scope, def.requestDeserialize(bytes), claim),
    responseSerialize: (value) => def.responseSerialize(value as Res),
  };
}

/** How the background completer re-runs each mutating RPC from its stored canonical request. */
export function resumableMethods(service: PaymentService): ResumableMethod[] {
  const s = PaymentServiceService;
  return [
    resumable(s.createCharge, (scope, req, claim) => service.createCharge(scope, req, claim)),
    resumable(s.captureCharge, (scope, req, claim) => service.captureCharge(scope, req, claim)),
    resumable(s.refundCharge, (scope, req, claim) => service.refundCharge(scope, req, claim)),
    resumable(s.cancelCharge, (scope, req, claim) => service.cancelCharge(scope, req, claim)),
  ];
}
