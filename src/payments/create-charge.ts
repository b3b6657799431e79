import { CaptureMethod, type Charge, type CreateChargeRequest } from '../gen/payments/v1/payments.js';
import { ApiError } from '../grpc/api-error.js';
import { NeedsAttentionError } from '../idempotency/needs-attention-error.js';
import { ProviderCardError } from '../provider/provider-error.js';
import { chargeToProto } from './charge-mapper.js';
import { type ChargeOutcome, chargeOutcome } from './charge-outcome.js';
import type { ChargeRecord } from './charge-repository.js';
import { newId } from './new-id.js';
import { type PaymentClaim, recordOnCompletion } from './payment-claim.js';
import type { PaymentDeps } from './payment-deps.js';
import { callProvider, lookUpEarlierAttempt } from './provider-call.js';
import { checkMerchantMetadata, IDEMPOTENCY_REFERENCE_KEY } from './provider-reference.js';
import { providerRefusal } from './provider-refusal.js';
import {
  MAX_CUSTOMER_ID_LENGTH,
  MAX_DESCRIPTION_LENGTH,
  MAX_PAYMENT_METHOD_LENGTH,
  optionalText,
  parseAmount,
  parseCurrency,
  requireText,
  validateMetadata,
} from './validation.js';

/**
 * CreateCharge: one PaymentIntent at the provider under a key derived from the claim, and the
 * charge row committed with the stored response. A declined card is a charge in a failed state.
 */
export async function createCharge(deps: PaymentDeps, merchantId: string, req: CreateChargeRequest, claim: PaymentClaim): Promise<Charge> {
  const amount = parseAmount('amount', req.amount);
  const currency = parseCurrency(req.currency);
  const paymentMethod = requireText('payment_method', req.paymentMethod, MAX_PAYMENT_METHOD_LENGTH);
  const customerId = optionalText('customer_id', req.customerId, MAX_CUSTOMER_ID_LENGTH);
  const description = optionalText('description', req.description, MAX_DESCRIPTION_LENGTH);
  const metadata = validateMetadata(req.metadata);
  checkMerchantMetadata(metadata);
  const captureMethod = req.captureMethod === CaptureMethod.CAPTURE_METHOD_MANUAL ? 'manual' : 'automatic';
  if (req.captureMethod !== CaptureMethod.CAPTURE_METHOD_UNSPECIFIED && !Object.values(CaptureMethod).includes(req.captureMethod)) {
    throw ApiError.invalidArgument(`capture_method: unknown value ${req.captureMethod}`, { reason: 'FIELD_INVALID', metadata: { field: 'capture_method' } });
  }
  const key = claim.downstreamKey('create_charge');

  let outcome: ChargeOutcome | undefined;
  if (claim.pastDownstreamWindow) {
    // The provider may have forgotten `key`: re-sending could create a second payment.
    const found = await lookUpEarlierAttempt(claim, () => deps.lookup.paymentIntent(key));
    if (found && (found.amount !== amount || found.currency !== currency)) {
      throw new NeedsAttentionError('provider_lookup_mismatch', 'the payment found at the provider differs from the request in amount or currency');
    }
    if (found) outcome = chargeOutcome(found);
  }
  if (!outcome) {
    try {
      const intent = await callProvider(claim, () =>
        deps.provider.createPaymentIntent(
          {
            amount,
            currency,
            paymentMethod,
            captureMethod,
            ...(customerId ? { customer: customerId } : {}),
            ...(description ? { description } : {}),
            metadata: { ...metadata, [IDEMPOTENCY_REFERENCE_KEY]: key },
          },
          key,
        ),
      );
      outcome = chargeOutcome(intent);
    } catch (err) {
      if (!(err instanceof ProviderCardError && err.paymentIntent)) throw providerRefusal(err, 'payment_method', true);
      // A decline is a business result (stored and replayed), not an RPC error.
      outcome = chargeOutcome(err.paymentIntent, { code: err.code, declineCode: err.declineCode, message: err.message });
    }
  }

  const now = new Date();
  const charge: ChargeRecord = {
    ...outcome,
    id: newId('ch_'),
    merchantId,
    amount,
    amountRefunded: 0,
    currency,
    customerId,
    description,
    metadata,
    captureMethod,
    paymentMethod,
    createdAt: now,
    updatedAt: now,
  };
  recordOnCompletion(claim, (guard) => deps.repo.insertCharge(charge, claim.id, guard));
  return chargeToProto(charge);
}
