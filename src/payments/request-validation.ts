import {
  type CancelChargeRequest,
  type CaptureChargeRequest,
  CaptureMethod,
  type CreateChargeRequest,
  PaymentServiceService,
  type RefundChargeRequest,
  RefundReason,
} from '../gen/payments/v1/payments.js';
import { ApiError } from '../grpc/api-error.js';
import { checkMerchantMetadata } from './provider-reference.js';
import {
  CUSTOMER_ID_LIMIT,
  DESCRIPTION_LIMIT,
  optionalText,
  PAYMENT_METHOD_LIMIT,
  parseAmount,
  parseCurrency,
  requireChargeId,
  requireText,
  validateMetadata,
} from './validation.js';

/** A value the proto defines (ts-proto's UNRECOGNIZED, -1, is not one: it stands for any unknown number). */
function enumValue(name: string, value: number, known: object): void {
  if (value < 0 || !Object.values(known).includes(value)) {
    throw ApiError.invalidArgument(`${name}: unknown value ${value}`, { reason: 'FIELD_INVALID', metadata: { field: name } });
  }
}

export function validateCreateCharge(req: CreateChargeRequest): void {
  parseAmount('amount', req.amount);
  parseCurrency(req.currency);
  requireText('payment_method', req.paymentMethod, PAYMENT_METHOD_LIMIT);
  optionalText('customer_id', req.customerId, CUSTOMER_ID_LIMIT);
  optionalText('description', req.description, DESCRIPTION_LIMIT);
  validateMetadata(req.metadata);
  checkMerchantMetadata(req.metadata);
  enumValue('capture_method', req.captureMethod, CaptureMethod);
}

const CHECKS: Record<string, (request: never) => void> = {
  [PaymentServiceService.createCharge.path]: validateCreateCharge,
  [PaymentServiceService.captureCharge.path]: (req: CaptureChargeRequest) => {
    requireChargeId(req.chargeId);
    if (req.amount !== undefined) parseAmount('amount', req.amount);
  },
  [PaymentServiceService.refundCharge.path]: (req: RefundChargeRequest) => {
    requireChargeId(req.chargeId);
    if (req.amount !== undefined) parseAmount('amount', req.amount);
    enumValue('reason', req.reason, RefundReason);
  },
  [PaymentServiceService.cancelCharge.path]: (req: CancelChargeRequest) => {
    requireChargeId(req.chargeId);
  },
};

/**
 * Everything deterministic about a mutating request, checked before its
 * idempotency key is claimed (DESIGN §3, "refuse before you claim"): a
 * request refused here writes no row and sends nothing to the provider, so
 * the same key with a corrected request runs normally. What depends on stored
 * state (does the charge exist, is the amount refundable) is checked by the
 * use case, and that answer is stored and replayed.
 */
export function validateRequest(path: string, request: unknown): void {
  const check = CHECKS[path] as ((request: unknown) => void) | undefined;
  check?.(request);
}
