import type { Refund, RefundChargeRequest } from '../gen/payments/v1/payments.js';
import { ApiError } from '../grpc/api-error.js';
import { NeedsAttentionError } from '../idempotency/needs-attention-error.js';
import { RecoveryPoint } from '../idempotency/record.js';
import type { ProviderRefund, RefundStatus as ProviderRefundStatus } from '../provider/provider-types.js';
import { REFUND_REASONS, refundToProto } from './charge-mapper.js';
import { PROVIDER_TEXT_COLUMNS, type RefundRecord, type RefundState } from './charge-repository.js';
import { REFUNDABLE_STATES } from './charge-status.js';
import { affectedRows, requireSettled } from './charge-transition.js';
import { merchantCharge } from './merchant-charge.js';
import { newId } from './new-id.js';
import { type PaymentClaim, recordNow } from './payment-claim.js';
import type { PaymentDeps } from './payment-deps.js';
import { callProvider, lookUpEarlierAttempt } from './provider-call.js';
import { IDEMPOTENCY_REFERENCE_KEY } from './provider-reference.js';
import { providerRefusal } from './provider-refusal.js';
import { truncateCodePoints } from './truncate-code-points.js';
import { parseAmount } from './validation.js';

/**
 * How a provider refund is recorded. Stripe counts a refund it has accepted but not finished
 * (`pending`, `requires_action`) in the charge's amount_refunded, so the same money cannot be
 * refunded twice while it is on its way; a `failed` or `canceled` refund returned nothing.
 */
function refundState(status: ProviderRefundStatus): RefundState {
  if (status === 'succeeded') return 'succeeded';
  if (status === 'failed' || status === 'canceled') return 'failed';
  return 'pending';
}

/** RefundCharge: refunds a captured charge, all that is left of it or less. */
export async function refundCharge(deps: PaymentDeps, merchantId: string, req: RefundChargeRequest, claim: PaymentClaim): Promise<Refund> {
  const { repo, provider } = deps;
  if (claim.recoveryPoint === RecoveryPoint.ChargeRecorded) {
    // An earlier attempt committed the refund; only its answer is missing. The charge is read
    // now: the snapshot that attempt took was not kept.
    const recorded = await repo.findRefundByKey(merchantId, claim.id);
    if (!recorded) throw new NeedsAttentionError('refund_not_recorded', 'a refund the provider made could not be recorded against its charge');
    return refundToProto(recorded, await merchantCharge(repo, merchantId, recorded.chargeId));
  }
  const charge = await merchantCharge(repo, merchantId, req.chargeId);
  if (!REFUND_REASONS[req.reason]) {
    throw ApiError.invalidArgument(`reason: unknown value ${req.reason}`, { reason: 'FIELD_INVALID', metadata: { field: 'reason' } });
  }
  requireSettled(charge, 'refunded');
  if (!REFUNDABLE_STATES.includes(charge.status)) {
    throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only a captured charge can be refunded`, { reason: 'CHARGE_NOT_REFUNDABLE' });
  }
  // Pending refunds count as refunded (see RefundState), so the same money is never refunded twice.
  const refundable = charge.amountCaptured - charge.amountRefunded;
  const amount = req.amount === undefined ? refundable : parseAmount('amount', req.amount);
  if (amount > refundable) {
    throw ApiError.failedPrecondition(
      `amount: ${amount} exceeds the refundable amount ${refundable} (captured ${charge.amountCaptured}, refunded ${charge.amountRefunded})`,
      {
        reason: 'REFUND_EXCEEDS_CAPTURED',
        metadata: { field: 'amount' },
      },
    );
  }
  const key = claim.downstreamKey('refund_charge');
  let providerRefund: ProviderRefund | undefined;
  if (claim.pastDownstreamWindow) {
    providerRefund = await lookUpEarlierAttempt(claim, () => deps.lookup.refund(charge.providerReference, key));
    if (providerRefund && providerRefund.amount !== amount) {
      throw new NeedsAttentionError('provider_lookup_mismatch', 'the refund found at the provider differs from the request in amount');
    }
  }
  providerRefund ??= await callProvider(claim, () =>
    provider.createRefund({ paymentIntent: charge.providerReference, amount, metadata: { [IDEMPOTENCY_REFERENCE_KEY]: key } }, key),
  ).catch((err: unknown) => {
    throw providerRefusal(err, 'amount', false);
  });
  const now = new Date();
  const refund: RefundRecord = {
    id: newId('re_'),
    merchantId,
    chargeId: charge.id,
    amount,
    currency: charge.currency,
    status: refundState(providerRefund.status),
    reason: REFUND_REASONS[req.reason] ?? 'unspecified',
    providerReference: truncateCodePoints(providerRefund.id, PROVIDER_TEXT_COLUMNS.providerReference),
    createdAt: now,
  };
  if (refund.status === 'failed') {
    // No money moved: the refund is recorded, the charge is left as it is.
    const [, select] = await recordNow(claim, [
      (guard) => repo.insertRefund(refund, claim.id, guard),
      (guard) => repo.selectCharge(merchantId, charge.id, guard),
    ]);
    const snapshot = repo.chargeOfResult(select);
    if (!snapshot) throw new Error(`charge ${charge.id} vanished while its refund was recorded`);
    return refundToProto(refund, snapshot);
  }
  // The charge update, then the refund row only if that update matched (never a refund row
  // without its amount on the charge), then the charge as this transaction left it: concurrent
  // refunds of one charge each answer with their own result, not a stale read.
  const [update, , insert, select] = await recordNow(claim, [
    (guard) => repo.refundCharge({ ...charge, updatedAt: now }, amount, guard),
    (guard) => repo.rememberRowCount(guard),
    (guard) => repo.insertRefund(refund, claim.id, guard, true),
    (guard) => repo.selectCharge(merchantId, charge.id, guard),
  ]);
  const snapshot = repo.chargeOfResult(select);
  if (affectedRows(update) !== 1 || affectedRows(insert) !== 1 || !snapshot) {
    throw new NeedsAttentionError('refund_not_recordable', 'the provider refunded more than the stored charge has left to refund');
  }
  return refundToProto(refund, snapshot);
}
