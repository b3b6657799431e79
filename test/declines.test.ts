import { randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { CaptureMethod, ChargeStatus, type CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { TEST_PAYMENT_METHODS } from '../src/simulator/test-payment-methods.js';
import { callUnary } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

/**
 * Stripe's test cards with both of Stripe's codes: `failure_code` is Stripe's error code
 * (`card_declined`, `expired_card`, ...) and `decline_code` the card network's reason
 * (`generic_decline`, `insufficient_funds`, ...), as a Stripe charge keeps them.
 */
const DECLINES = [
  { paymentMethod: 'pm_card_chargeDeclined', failureCode: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.' },
  {
    paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds',
    failureCode: 'card_declined',
    declineCode: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
  { paymentMethod: 'pm_card_chargeDeclinedLostCard', failureCode: 'card_declined', declineCode: 'lost_card', message: 'Your card was declined.' },
  { paymentMethod: 'pm_card_chargeDeclinedStolenCard', failureCode: 'card_declined', declineCode: 'stolen_card', message: 'Your card was declined.' },
  { paymentMethod: 'pm_card_chargeDeclinedExpiredCard', failureCode: 'expired_card', declineCode: 'expired_card', message: 'Your card has expired.' },
  {
    paymentMethod: 'pm_card_chargeDeclinedIncorrectCvc',
    failureCode: 'incorrect_cvc',
    declineCode: 'incorrect_cvc',
    message: "Your card's security code is incorrect.",
  },
  {
    paymentMethod: 'pm_card_chargeDeclinedProcessingError',
    failureCode: 'processing_error',
    declineCode: 'processing_error',
    message: 'An error occurred while processing your card. Try again in a little bit.',
  },
] as const;

describe('card declines', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  const request = (paymentMethod: string, captureMethod = CaptureMethod.CAPTURE_METHOD_AUTOMATIC): CreateChargeRequest => ({
    amount: '4200',
    currency: 'usd',
    paymentMethod,
    customerId: 'cus_declines',
    description: `decline test ${paymentMethod}`,
    metadata: { case: paymentMethod },
    captureMethod,
  });

  it('covers only cards the simulator declines', () => {
    for (const { paymentMethod } of DECLINES) {
      expect(TEST_PAYMENT_METHODS.get(paymentMethod)?.result, paymentMethod).to.equal('decline');
    }
  });

  for (const decline of DECLINES) {
    it(`returns OK with a failed charge, failure code ${decline.failureCode} and decline code ${decline.declineCode} for ${decline.paymentMethod}, stores both, and replays it for the same key`, async () => {
      const key = randomUUID();
      const before = t.sim.stats();

      const first = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, request(decline.paymentMethod), t.md(key));

      expect(first.error, 'a decline must not be an RPC error').to.equal(undefined);
      const charge = first.response!;
      expect(charge.status).to.equal(ChargeStatus.CHARGE_STATUS_FAILED);
      expect(charge.failureCode).to.equal(decline.failureCode);
      expect(charge.declineCode).to.equal(decline.declineCode);
      expect(charge.failureMessage).to.equal(decline.message);
      const [rows] = await t.pool.query<RowDataPacket[]>('SELECT failure_code, decline_code FROM charges WHERE id = ?', [charge.id]);
      expect(rows[0]).to.deep.include({ failure_code: decline.failureCode, decline_code: decline.declineCode });
      expect(charge.amount).to.equal('4200');
      expect(charge.amountCaptured).to.equal('0');
      // Like Stripe, the provider keeps a PaymentIntent for the declined attempt.
      expect(charge.providerReference).to.match(/^pi_/);
      const afterFirst = t.sim.stats();
      expect(afterFirst.paymentIntentsCreated).to.equal(before.paymentIntentsCreated + 1);
      expect(first.headers.get('idempotent-replayed')).to.deep.equal([]);

      const retry = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, request(decline.paymentMethod), t.md(key));

      expect(retry.error).to.equal(undefined);
      expect(retry.headers.get('idempotent-replayed')).to.deep.equal(['true']);
      expect(retry.response).to.deep.equal(charge);
      const afterRetry = t.sim.stats();
      expect(afterRetry.paymentIntentsCreated, 'the retry created a PaymentIntent').to.equal(afterFirst.paymentIntentsCreated);
      expect(afterRetry.requests, 'the retry reached the provider').to.equal(afterFirst.requests);

      const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: charge.id }, t.md());
      expect(got.response).to.deep.equal(charge);
    });
  }

  it('declines a manual-capture charge the same way, leaving nothing to capture, cancel or refund', async () => {
    const created = await callUnary(
      t.client,
      PaymentServiceClient.prototype.createCharge,
      request('pm_card_chargeDeclinedInsufficientFunds', CaptureMethod.CAPTURE_METHOD_MANUAL),
      t.md(randomUUID()),
    );
    const charge = created.response!;
    expect(charge.status).to.equal(ChargeStatus.CHARGE_STATUS_FAILED);
    expect(charge.failureCode).to.equal('card_declined');
    expect(charge.declineCode).to.equal('insufficient_funds');

    const capture = await callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: charge.id }, t.md(randomUUID()));
    const cancel = await callUnary(t.client, PaymentServiceClient.prototype.cancelCharge, { chargeId: charge.id }, t.md(randomUUID()));
    const refund = await callUnary(t.client, PaymentServiceClient.prototype.refundCharge, { chargeId: charge.id, reason: 0 }, t.md(randomUUID()));
    for (const result of [capture, cancel, refund]) {
      expect(result.error?.code).to.equal(Code.FAILED_PRECONDITION);
      expect(result.error?.details).to.include('charge is failed');
    }
  });

  it('charges a new key normally after a decline with another card', async () => {
    const declined = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, request('pm_card_chargeDeclined'), t.md(randomUUID()));
    const succeeded = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, request('pm_card_visa'), t.md(randomUUID()));

    expect(declined.response?.status).to.equal(ChargeStatus.CHARGE_STATUS_FAILED);
    expect(succeeded.response?.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
    expect(succeeded.response?.failureCode).to.equal('');
    expect(succeeded.response?.declineCode).to.equal('');
  });
});
