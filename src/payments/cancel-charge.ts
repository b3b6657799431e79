import type { CancelChargeRequest, Charge } from '../gen/payments/v1/payments.js';
import { ApiError } from '../grpc/api-error.js';
import { NeedsAttentionError } from '../idempotency/needs-attention-error.js';
import { RecoveryPoint } from '../idempotency/record.js';
import { chargeToProto } from './charge-mapper.js';
import type { ChargeRecord } from './charge-repository.js';
import { ChargeState } from './charge-status.js';
import { requireSettled, snapshotAfter } from './charge-transition.js';
import { merchantCharge } from './merchant-charge.js';
import { type PaymentClaim, recordNow } from './payment-claim.js';
import type { PaymentDeps } from './payment-deps.js';
import { callProvider, lookUpEarlierAttempt } from './provider-call.js';
import { providerRefusal } from './provider-refusal.js';

/** CancelCharge: releases an authorized (requires_capture) charge at the provider. */
export async function cancelCharge(deps: PaymentDeps, merchantId: string, req: CancelChargeRequest, claim: PaymentClaim): Promise<Charge> {
  const { repo, provider } = deps;
  if (claim.recoveryPoint === RecoveryPoint.ChargeRecorded) return chargeToProto(await merchantCharge(repo, merchantId, req.chargeId));
  const charge = await merchantCharge(repo, merchantId, req.chargeId);
  requireSettled(charge, 'canceled');
  if (charge.status !== ChargeState.RequiresCapture) {
    throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only an uncaptured (requires_capture) charge can be canceled`, {
      reason: 'CHARGE_NOT_CANCELABLE',
    });
  }
  const key = claim.downstreamKey('cancel_charge');
  let canceled = false;
  if (claim.pastDownstreamWindow) {
    const current = await lookUpEarlierAttempt(claim, () => provider.retrievePaymentIntent(charge.providerReference));
    canceled = current.status === 'canceled'; // canceled by the earlier attempt
    if (!canceled && current.status !== 'requires_capture') {
      throw new NeedsAttentionError('provider_state_unexpected', `a payment to cancel is ${current.status} at the provider`);
    }
  }
  if (!canceled) {
    await callProvider(claim, () => provider.cancelPaymentIntent(charge.providerReference, key)).catch((err: unknown) => {
      throw providerRefusal(err, 'charge_id', false);
    });
  }
  const updated: ChargeRecord = { ...charge, status: ChargeState.Canceled, updatedAt: new Date() };
  const [update, select] = await recordNow(claim, [
    (guard) => repo.updateCharge(updated, ChargeState.RequiresCapture, guard),
    (guard) => repo.selectCharge(merchantId, charge.id, guard),
  ]);
  return chargeToProto(snapshotAfter(repo, update, select, ChargeState.Canceled));
}
