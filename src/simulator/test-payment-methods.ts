/**
 * Stripe's test PaymentMethods the simulator understands, with the result Stripe documents for
 * each. Anything else is answered as an unknown PaymentMethod (400 `resource_missing`).
 *
 * A decline carries both of Stripe's codes: `code` is the error code (`card_declined`,
 * `expired_card`, `incorrect_cvc`, `processing_error`) and `declineCode` the card network's
 * reason (`generic_decline`, `insufficient_funds`, `lost_card`, ...). For the expired card, the
 * wrong CVC and the processing error Stripe repeats the error code as the decline code.
 *
 * Names starting with `pm_card_simulator` are the simulator's own (Stripe has no test card that
 * gives the result synchronously): a payment left `processing`, and refunds answered `pending`
 * or `failed` at once.
 */

export interface TestCardDecline {
  code: string;
  declineCode: string;
  message: string;
}

/** What a refund of a payment made with the method answers (Stripe test cards answer `succeeded`). */
export type TestRefundResult = 'succeeded' | 'pending' | 'failed';

export type TestPaymentMethodBehaviour =
  | { result: 'succeed'; refund: TestRefundResult }
  | { result: 'decline'; decline: TestCardDecline }
  /** Confirm answers 200 with a PaymentIntent in `requires_action` (3-D Secure required). */
  | { result: 'requires_action' }
  /** Confirm answers 200 with a PaymentIntent in `processing`. */
  | { result: 'processing' };

const succeed: TestPaymentMethodBehaviour = { result: 'succeed', refund: 'succeeded' };

function decline(code: string, declineCode: string, message: string): TestPaymentMethodBehaviour {
  return { result: 'decline', decline: { code, declineCode, message } };
}

/** The simulator's own method whose payments stay `processing`. */
export const SIMULATOR_PROCESSING_METHOD = 'pm_card_simulatorProcessing';
/** The simulator's own methods whose refunds are answered `pending` / `failed`. */
export const SIMULATOR_REFUND_PENDING_METHOD = 'pm_card_simulatorRefundPending';
export const SIMULATOR_REFUND_FAILED_METHOD = 'pm_card_simulatorRefundFailed';

export const TEST_PAYMENT_METHODS: ReadonlyMap<string, TestPaymentMethodBehaviour> = new Map([
  ['pm_card_visa', succeed],
  ['pm_card_visa_debit', succeed],
  ['pm_card_mastercard', succeed],
  ['pm_card_amex', succeed],
  ['pm_card_discover', succeed],
  ['pm_card_chargeDeclined', decline('card_declined', 'generic_decline', 'Your card was declined.')],
  ['pm_card_chargeDeclinedInsufficientFunds', decline('card_declined', 'insufficient_funds', 'Your card has insufficient funds.')],
  ['pm_card_chargeDeclinedLostCard', decline('card_declined', 'lost_card', 'Your card was declined.')],
  ['pm_card_chargeDeclinedStolenCard', decline('card_declined', 'stolen_card', 'Your card was declined.')],
  ['pm_card_chargeDeclinedFraudulent', decline('card_declined', 'fraudulent', 'Your card was declined.')],
  ['pm_card_chargeDeclinedExpiredCard', decline('expired_card', 'expired_card', 'Your card has expired.')],
  ['pm_card_chargeDeclinedIncorrectCvc', decline('incorrect_cvc', 'incorrect_cvc', "Your card's security code is incorrect.")],
  [
    'pm_card_chargeDeclinedProcessingError',
    decline('processing_error', 'processing_error', 'An error occurred while processing your card. Try again in a little bit.'),
  ],
  ['pm_card_authenticationRequired', { result: 'requires_action' }],
  [SIMULATOR_PROCESSING_METHOD, { result: 'processing' }],
  [SIMULATOR_REFUND_PENDING_METHOD, { result: 'succeed', refund: 'pending' }],
  [SIMULATOR_REFUND_FAILED_METHOD, { result: 'succeed', refund: 'failed' }],
]);
