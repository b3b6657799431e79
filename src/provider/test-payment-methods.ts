/**
 * Stripe's test PaymentMethods the simulator understands, with the result Stripe documents for
 * each. Anything else is answered as an unknown PaymentMethod (400 `resource_missing`).
 */

export interface TestCardDecline {
  code: string;
  declineCode: string;
  message: string;
}

export type TestPaymentMethodBehaviour = { result: 'succeed' } | { result: 'decline'; decline: TestCardDecline };

const succeed: TestPaymentMethodBehaviour = { result: 'succeed' };

function decline(code: string, declineCode: string, message: string): TestPaymentMethodBehaviour {
  return { result: 'decline', decline: { code, declineCode, message } };
}

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
]);
