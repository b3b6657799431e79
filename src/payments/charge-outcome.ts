import type { PaymentIntent } from '../provider/provider-types.js';
import { PROVIDER_TEXT_COLUMNS } from './charge-repository.js';
import { ChargeState } from './charge-status.js';
import { truncateCodePoints } from './truncate-code-points.js';

/** Stripe's two codes and message of a failed confirmation. */
export interface ChargeFailure {
  /** Stripe's error code: `card_declined`, `expired_card`, `incorrect_cvc`, `processing_error`, ... */
  code: string;
  /** Stripe's decline code: `generic_decline`, `insufficient_funds`, `lost_card`, ...; may be absent. */
  declineCode: string | undefined;
  message: string;
}

/** What a charge records of the PaymentIntent its creation left at the provider. */
export interface ChargeOutcome {
  status: ChargeState;
  amountCaptured: number;
  failureCode: string;
  declineCode: string;
  failureMessage: string;
  providerReference: string;
}

/**
 * The charge state of a PaymentIntent after its confirmation (Stripe's states), with the provider's
 * text cut to its columns. `failure` is the card error of a declined confirmation (HTTP 402);
 * without one, a PaymentIntent found later in `requires_payment_method` is a decline too, described
 * by its `last_payment_error`.
 *
 * `processing` and `requires_action` are not failures: the money may still move, so recording
 * them as failed would let the provider take money the record says it did not.
 */
export function chargeOutcome(intent: PaymentIntent, failure?: ChargeFailure): ChargeOutcome {
  const lastError = intent.last_payment_error;
  const declined =
    failure ??
    (intent.status === 'requires_payment_method' && lastError
      ? { code: lastError.code, declineCode: lastError.decline_code, message: lastError.message }
      : undefined);
  const base = { providerReference: truncateCodePoints(intent.id, PROVIDER_TEXT_COLUMNS.providerReference) };
  if (declined || intent.status === 'requires_payment_method') {
    return {
      ...base,
      status: ChargeState.Failed,
      amountCaptured: 0,
      failureCode: truncateCodePoints(declined?.code ?? '', PROVIDER_TEXT_COLUMNS.failureCode),
      declineCode: truncateCodePoints(declined?.declineCode ?? '', PROVIDER_TEXT_COLUMNS.declineCode),
      failureMessage: truncateCodePoints(declined?.message ?? '', PROVIDER_TEXT_COLUMNS.failureMessage),
    };
  }
  const noFailure = { failureCode: '', declineCode: '', failureMessage: '' };
  return { ...base, ...noFailure, status: STATE_OF_INTENT[intent.status], amountCaptured: intent.amount_received };
}

const STATE_OF_INTENT: Record<Exclude<PaymentIntent['status'], 'requires_payment_method'>, ChargeState> = {
  succeeded: ChargeState.Succeeded,
  requires_capture: ChargeState.RequiresCapture,
  canceled: ChargeState.Canceled,
  processing: ChargeState.Processing,
  requires_action: ChargeState.RequiresAction,
};
