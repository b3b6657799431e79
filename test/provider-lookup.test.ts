import { randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { CaptureMethod, ChargeStatus, type CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { IDEMPOTENCY_REFERENCE_KEY } from '../src/payments/provider-reference.js';
import { ProviderClient } from '../src/provider/provider-client.js';
import { callUnary } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const create = PaymentServiceClient.prototype.createCharge;

function chargeRequest(order: string, captureMethod = CaptureMethod.CAPTURE_METHOD_AUTOMATIC): CreateChargeRequest {
  return { amount: '3100', currency: 'usd', paymentMethod: 'pm_card_visa', customerId: '', description: '', metadata: { order_id: order }, captureMethod };
}

async function keyRow(t: TestServer, key: string): Promise<RowDataPacket | undefined> {
  const [rows] = await t.pool.query<RowDataPacket[]>('SELECT state, recovery_point FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?', [
    t.merchantId,
    key,
  ]);
  return rows[0];
}

async function chargesFor(t: TestServer, providerReference: string): Promise<number> {
  const [rows] = await t.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM charges WHERE provider_reference = ?', [providerReference]);
  return Number(rows[0]?.['n']);
}

/**
 * A provider forgets idempotency keys after a window (Stripe: about 24 h). With the window at 0 s
 * every resumed attempt is past it, as if its first attempt had been a day ago, and the simulator
 * forgets its keys as the provider would have by then: re-sending blindly would create a second
 * payment, so the resumed attempt must find the first one by the reference it sent.
 */
describe('provider lookup past the provider idempotency window', function () {
  this.timeout(60_000);
  let t: TestServer;
  before(async () => {
    // The completer is started but never runs on its own within a test; tests call runOnce().
    t = await startTestServer({ providerWindowSeconds: 0, completerIntervalMs: 3_600_000 });
  });
  after(async () => {
    await t.close();
  });
  const payments = (order: string) => t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order);

  /** A create the provider processed but whose answer was lost, then a provider that forgot its key. */
  async function chargedButForgotten(order: string, key: string, captureMethod = CaptureMethod.CAPTURE_METHOD_AUTOMATIC): Promise<void> {
    t.sim.faults.add({ kind: 'chargeThenDrop', match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const first = await callUnary(t.client, create, chargeRequest(order, captureMethod), t.md(key));
    expect(first.error?.code).to.equal(Code.UNAVAILABLE);
    expect(payments(order)).to.have.length(1);
    expect((await keyRow(t, key))?.['state']).to.equal('in_progress');
    t.sim.forgetIdempotencyKeys();
  }

  it('records the payment an earlier attempt created, found by its reference, when the client retries, and creates no second one', async () => {
    const key = randomUUID();
    const order = `lookup-retry-${key}`;
    await chargedButForgotten(order, key);
    const createsBefore = t.sim.stats().paymentIntentsCreated;

    const retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));

    expect(retry.error).to.equal(undefined);
    expect(t.sim.stats().paymentIntentsCreated, 'a second PaymentIntent was created').to.equal(createsBefore);
    const [intent] = payments(order);
    expect(payments(order)).to.have.length(1);
    expect(retry.response!.providerReference).to.equal(intent!.id);
    expect(retry.response!.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
    expect(retry.response!.amountCaptured).to.equal('3100');
    // The reference is the service's, not the merchant's: it is not in the charge's metadata.
    expect(retry.response!.metadata).to.deep.equal({ order_id: order });
    expect(await chargesFor(t, intent!.id)).to.equal(1);
    expect((await keyRow(t, key))?.['state']).to.equal('completed');
    const replay = await callUnary(t.client, create, chargeRequest(order), t.md(key));
    expect(replay.response).to.deep.equal(retry.response);
  });

  it('records it when the background completer resumes the row without any client', async () => {
    const key = randomUUID();
    const order = `lookup-completer-${key}`;
    await chargedButForgotten(order, key);

    await t.running.completer!.runOnce();

    expect(payments(order)).to.have.length(1);
    expect((await keyRow(t, key))?.['state']).to.equal('completed');
    expect(await chargesFor(t, payments(order)[0]!.id)).to.equal(1);
    const retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));
    expect(retry.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(retry.response!.providerReference).to.equal(payments(order)[0]!.id);
  });

  it('creates the payment when the lookup finds none (the earlier attempt never reached the provider)', async () => {
    const key = randomUUID();
    const order = `lookup-none-${key}`;
    // A 500 without processing: the outcome is unknown to the service, but nothing was created.
    t.sim.faults.add({ kind: 'http500', match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });
    const first = await callUnary(t.client, create, chargeRequest(order), t.md(key));
    expect(first.error?.code).to.equal(Code.UNAVAILABLE);
    expect(payments(order)).to.have.length(0);

    const retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));

    expect(retry.error).to.equal(undefined);
    expect(payments(order)).to.have.length(1);
    expect(retry.response!.providerReference).to.equal(payments(order)[0]!.id);
  });

  it('hands the row to an operator instead of guessing when two payments carry the reference', async () => {
    const key = randomUUID();
    const order = `lookup-ambiguous-${key}`;
    await chargedButForgotten(order, key);
    const reference = payments(order)[0]!.metadata[IDEMPOTENCY_REFERENCE_KEY]!;
    const other = new ProviderClient({ baseUrl: t.sim.url, secretKey: t.sim.secretKey });
    try {
      await other.createPaymentIntent(
        {
          amount: 3100,
          currency: 'usd',
          paymentMethod: 'pm_card_visa',
          captureMethod: 'automatic',
          metadata: { order_id: order, [IDEMPOTENCY_REFERENCE_KEY]: reference },
        },
        `other-${key}`,
      );
    } finally {
      other.close();
    }

    const retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));

    expect(retry.error, 'an undecidable lookup must not be answered OK').to.not.equal(undefined);
    expect(retry.error?.code).to.not.equal(Code.UNAVAILABLE);
    expect(payments(order), 'a third payment was created').to.have.length(2);
    const [rows] = await t.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM charges WHERE merchant_id = ? AND JSON_VALUE(metadata, '$.order_id') = ?", [
      t.merchantId,
      order,
    ]);
    expect(Number(rows[0]?.['n'])).to.equal(0);
  });

  it("records a refund an earlier attempt made, found among the payment's refunds by its reference", async () => {
    const created = await callUnary(t.client, create, chargeRequest(`lookup-refund-${randomUUID()}`), t.md(randomUUID()));
    const chargeId = created.response!.id;
    const pi = created.response!.providerReference;
    const key = randomUUID();
    t.sim.faults.add({ kind: 'chargeThenDrop', match: { pathPrefix: '/v1/refunds' } });
    const refund = { chargeId, amount: '1000', reason: 0 };
    const first = await callUnary(t.client, PaymentServiceClient.prototype.refundCharge, refund, t.md(key));
    expect(first.error?.code).to.equal(Code.UNAVAILABLE);
    t.sim.forgetIdempotencyKeys();

    const retry = await callUnary(t.client, PaymentServiceClient.prototype.refundCharge, refund, t.md(key));

    expect(retry.error).to.equal(undefined);
    const refunds = t.sim.refunds().filter((r) => r.payment_intent === pi);
    expect(refunds, 'a second refund was made').to.have.length(1);
    expect(retry.response!.providerReference).to.equal(refunds[0]!.id);
    expect(retry.response!.charge!.amountRefunded).to.equal('1000');
    const [rows] = await t.pool.query<RowDataPacket[]>('SELECT amount_refunded FROM charges WHERE id = ?', [chargeId]);
    expect(String(rows[0]?.['amount_refunded'])).to.equal('1000');
  });

  for (const step of ['capture', 'cancel'] as const) {
    it(`records a ${step} an earlier attempt made, read from the PaymentIntent, without sending it again`, async () => {
      const created = await callUnary(
        t.client,
        create,
        chargeRequest(`lookup-${step}-${randomUUID()}`, CaptureMethod.CAPTURE_METHOD_MANUAL),
        t.md(randomUUID()),
      );
      const chargeId = created.response!.id;
      const key = randomUUID();
      const method = step === 'capture' ? PaymentServiceClient.prototype.captureCharge : PaymentServiceClient.prototype.cancelCharge;
      t.sim.faults.add({ kind: 'chargeThenDrop', match: { method: 'POST', pathPrefix: `/v1/payment_intents/${created.response!.providerReference}/${step}` } });
      const first = await callUnary(t.client, method, { chargeId }, t.md(key));
      expect(first.error?.code).to.equal(Code.UNAVAILABLE);
      t.sim.forgetIdempotencyKeys();
      const requestsBefore = t.sim.stats().requests;

      const retry = await callUnary(t.client, method, { chargeId }, t.md(key));

      // Sent again, the provider would refuse it (already captured / canceled): FAILED_PRECONDITION.
      expect(retry.error).to.equal(undefined);
      expect(retry.response!.status).to.equal(step === 'capture' ? ChargeStatus.CHARGE_STATUS_SUCCEEDED : ChargeStatus.CHARGE_STATUS_CANCELED);
      if (step === 'capture') expect(retry.response!.amountCaptured).to.equal('3100');
      expect(t.sim.stats().requests - requestsBefore, 'only the lookup reached the provider').to.equal(1);
      const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId }, t.md());
      expect(got.response).to.deep.equal(retry.response);
    });
  }

  it('refuses merchant metadata that would clash with the reference before anything reaches the provider', async () => {
    const before = t.sim.stats().requests;
    const reserved = await callUnary(t.client, create, { ...chargeRequest('x'), metadata: { [IDEMPOTENCY_REFERENCE_KEY]: 'mine' } }, t.md(randomUUID()));
    const full = await callUnary(
      t.client,
      create,
      { ...chargeRequest('x'), metadata: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'])) },
      t.md(randomUUID()),
    );

    expect(reserved.error?.code).to.equal(Code.INVALID_ARGUMENT);
    expect(reserved.error?.details).to.include(`"${IDEMPOTENCY_REFERENCE_KEY}" is reserved`);
    expect(full.error?.code).to.equal(Code.INVALID_ARGUMENT);
    expect(full.error?.details).to.include('at most 49 entries');
    expect(t.sim.stats().requests).to.equal(before);
  });
});
