import { CaptureMethod, type Charge, ChargeStatus, type Refund, RefundReason, RefundStatus } from '../gen/payments/v1/payments.js';
import type { ChargeRecord, RefundRecord, RefundState } from './charge-repository.js';
import { ChargeState } from './charge-status.js';

const STATUS: Record<ChargeState, ChargeStatus> = {
  [ChargeState.Succeeded]: ChargeStatus.CHARGE_STATUS_SUCCEEDED,
  [ChargeState.RequiresCapture]: ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE,
  [ChargeState.Failed]: ChargeStatus.CHARGE_STATUS_FAILED,
  [ChargeState.Canceled]: ChargeStatus.CHARGE_STATUS_CANCELED,
  [ChargeState.Refunded]: ChargeStatus.CHARGE_STATUS_REFUNDED,
  [ChargeState.PartiallyRefunded]: ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED,
  [ChargeState.Processing]: ChargeStatus.CHARGE_STATUS_PROCESSING,
  [ChargeState.RequiresAction]: ChargeStatus.CHARGE_STATUS_REQUIRES_ACTION,
};

const REFUND_STATUS: Record<RefundState, RefundStatus> = {
  succeeded: RefundStatus.REFUND_STATUS_SUCCEEDED,
  pending: RefundStatus.REFUND_STATUS_PENDING,
  failed: RefundStatus.REFUND_STATUS_FAILED,
};

export const REFUND_REASONS: Record<number, string> = {
  [RefundReason.REFUND_REASON_UNSPECIFIED]: 'unspecified',
  [RefundReason.REFUND_REASON_DUPLICATE]: 'duplicate',
  [RefundReason.REFUND_REASON_FRAUDULENT]: 'fraudulent',
  [RefundReason.REFUND_REASON_REQUESTED_BY_CUSTOMER]: 'requested_by_customer',
};

export function chargeToProto(c: ChargeRecord): Charge {
  return {
    id: c.id,
    status: STATUS[c.status],
    amount: String(c.amount),
    amountCaptured: String(c.amountCaptured),
    amountRefunded: String(c.amountRefunded),
    currency: c.currency,
    customerId: c.customerId,
    description: c.description,
    metadata: c.metadata,
    captureMethod: c.captureMethod === 'manual' ? CaptureMethod.CAPTURE_METHOD_MANUAL : CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
    failureCode: c.failureCode,
    declineCode: c.declineCode,
    failureMessage: c.failureMessage,
    providerReference: c.providerReference,
    createTime: c.createdAt,
    updateTime: c.updatedAt,
  };
}

export function refundToProto(r: RefundRecord, charge: ChargeRecord): Refund {
  const reason = Number(Object.entries(REFUND_REASONS).find(([, name]) => name === r.reason)?.[0] ?? 0) as RefundReason;
  return {
    id: r.id,
    chargeId: r.chargeId,
    amount: String(r.amount),
    currency: r.currency,
    status: REFUND_STATUS[r.status],
    reason,
    providerReference: r.providerReference,
    createTime: r.createdAt,
    charge: chargeToProto(charge),
  };
}
