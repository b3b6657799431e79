import type { CaptureChargeRequest, Charge } from '../gen/payments/v1/payments.js';
import { ApiError } from '../grpc/api-error.js';
import { NeedsAttentionError } from '../idempotency/needs-attention-error.js';
import { RecoveryPoint } from '../idempotency/record.js';
import type { PaymentIntent } from '../provider/provider-types.js';
import { chargeToProto } from './charge-mapper.js';
import type { ChargeRecord } from './charge-repository.js';
import { ChargeState } from './charge-status.js';
import { requireSettled, snapshotAfter } from './charge-transition.js';
import { merchantCharge } from './merchant-charge.js';
import { type PaymentClaim, recordNow } from './payment-claim.js';
import type { PaymentDeps } from './payment-deps.js';
import { callProvider, lookUpEarlierAttempt } from './provider-call.js';
import { providerRefusal } from './provider-refusal.js';
import { parseAmount } from './validation.js';

/** CaptureCharge: captures an authorized (requires_capture) charge, all of it or less. */
export async function captureCharge(deps: PaymentDeps, merchantId: string, req: CaptureChargeRequest, claim: PaymentClaim): Promise<Charge> {
  const { repo, provider } = deps;
  // An earlier attempt committed the capture; only its answer is missing.
  if (claim.recoveryPoint === RecoveryPoint.ChargeRecorded) return chargeToProto(await merchantCharge(repo, merchantId, req.chargeId));
  const charge = await merchantCharge(repo, merchantId, req.chargeId);
  requireSettled(charge, 'captured');
  if (charge.status !== ChargeState.RequiresCapture) {
    throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only a requires_capture charge can be captured`, {
      reason: 'CHARGE_NOT_CAPTURABLE',
    });
  }
  const amount = req.amount === undefined ? charge.amount : parseAmount('amount', req.amount);
  if (amount > charge.amount) {
    throw ApiError.invalidArgument(`amount: ${amount} exceeds the authorized amount ${charge.amount}`, {
      reason: 'FIELD_INVALID',
      metadata: { field: 'amount' },
    });
  }
  const key = claim.downstreamKey('capture_charge');
  let intent: PaymentIntent | undefined;
  if (claim.pastDownstreamWindow) {
    const current = await lookUpEarlierAttempt(claim, () => provider.retrievePaymentIntent(charge.providerReference));
    if (current.status === 'succeeded')
      intent = current; // captured by the earlier attempt
    else if (current.status !== 'requires_capture') {
      throw new NeedsAttentionError('provider_state_unexpected', `a payment to capture is ${current.status} at the provider`);
    }
  }
  intent ??= await callProvider(claim, () => provider.capturePaymentIntent(charge.providerReference, amount, key)).catch((err: unknown) => {
    throw providerRefusal(err, 'charge_id', false);
  });
  const updated: ChargeRecord = { ...charge, status: ChargeState.Succeeded, amountCaptured: intent.amount_received, updatedAt: new Date() };
  const [update, select] = await recordNow(claim, [
    (guard) => repo.updateCharge(updated, ChargeState.RequiresCapture, guard),
    (guard) => repo.selectCharge(merchantId, charge.id, guard),
  ]);
  return chargeToProto(snapshotAfter(repo, update, select, ChargeState.Succeeded));
}
