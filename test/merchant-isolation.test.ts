import { randomUUID } from 'node:crypto';
import { status as Code, type Metadata } from '@grpc/grpc-js';
import { expect } from 'chai';
import { CaptureMethod, type Charge, ChargeStatus, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

describe('merchant isolation', () => {
  let t: TestServer;
  /** Merchant A's uncaptured charge. */
  let chargeOfA: Charge;
  /** Metadata of merchant B, with a fresh idempotency key when asked for. */
  let asB: (idempotencyKey?: string) => Metadata;

  before(async () => {
    t = await startTestServer();
    const created = await callUnary(
      t.client,
      PaymentServiceClient.prototype.createCharge,
      {
        amount: '2500',
        currency: 'usd',
        paymentMethod: 'pm_card_visa',
        customerId: 'cus_shared_name',
        description: 'merchant A only',
        metadata: { owner: 'A' },
        captureMethod: CaptureMethod.CAPTURE_METHOD_MANUAL,
      },
      t.md(randomUUID()),
    );
    if (!created.response) throw new Error(`merchant A could not create a charge: ${String(created.error)}`);
    chargeOfA = created.response;
    expect(chargeOfA.status).to.equal(ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE);

    const b = await t.newMerchant();
    asB = (idempotencyKey) => metadata({ authorization: `Bearer ${b.apiKey}`, ...(idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : {}) });
  });
  after(async () => {
    await t.close();
  });

  /** B's answer must be exactly what a charge id that exists nowhere gets. */
  const expectNotFound = (error: { code: number; details: string } | undefined): void => {
    expect(error?.code).to.equal(Code.NOT_FOUND);
    expect(error?.details).to.equal(`charge_id: no charge "${chargeOfA.id}"`);
  };

  it("answers NOT_FOUND to another merchant's GetCharge", async () => {
    const result = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: chargeOfA.id }, asB());
    expectNotFound(result.error);
  });

  it("answers NOT_FOUND to another merchant's CaptureCharge, even of a capturable charge", async () => {
    const result = await callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: chargeOfA.id }, asB(randomUUID()));
    expectNotFound(result.error);
  });

  it("answers NOT_FOUND to another merchant's RefundCharge", async () => {
    const result = await callUnary(
      t.client,
      PaymentServiceClient.prototype.refundCharge,
      { chargeId: chargeOfA.id, amount: '100', reason: 0 },
      asB(randomUUID()),
    );
    expectNotFound(result.error);
  });

  it("answers NOT_FOUND to another merchant's CancelCharge", async () => {
    const result = await callUnary(t.client, PaymentServiceClient.prototype.cancelCharge, { chargeId: chargeOfA.id }, asB(randomUUID()));
    expectNotFound(result.error);
  });

  it("leaves the charge out of another merchant's ListCharges, filtered or not", async () => {
    const all = await callUnary(t.client, PaymentServiceClient.prototype.listCharges, { pageSize: 100, pageToken: '', customerId: '' }, asB());
    const sameCustomer = await callUnary(
      t.client,
      PaymentServiceClient.prototype.listCharges,
      { pageSize: 100, pageToken: '', customerId: 'cus_shared_name' },
      asB(),
    );

    expect(all.error).to.equal(undefined);
    expect(all.response?.charges).to.deep.equal([]);
    expect(sameCustomer.response?.charges).to.deep.equal([]);
  });

  it("keeps the owner's charge unchanged and capturable after the other merchant's attempts", async () => {
    const providerRequests = t.sim.stats().requests;
    const attempts = await Promise.all([
      callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: chargeOfA.id }, asB(randomUUID())),
      callUnary(t.client, PaymentServiceClient.prototype.cancelCharge, { chargeId: chargeOfA.id }, asB(randomUUID())),
    ]);
    for (const attempt of attempts) expectNotFound(attempt.error);
    expect(t.sim.stats().requests, 'the provider was called for another merchant').to.equal(providerRequests);

    const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: chargeOfA.id }, t.md());
    expect(got.response).to.deep.equal(chargeOfA);
    const listed = await callUnary(t.client, PaymentServiceClient.prototype.listCharges, { pageSize: 100, pageToken: '', customerId: '' }, t.md());
    expect(listed.response?.charges.map((c) => c.id)).to.deep.equal([chargeOfA.id]);

    const captured = await callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: chargeOfA.id }, t.md(randomUUID()));
    expect(captured.response?.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
    expect(captured.response?.amountCaptured).to.equal('2500');
  });

  it("does not let one merchant's idempotency key replay or block another merchant's request", async () => {
    const key = randomUUID();
    const request = {
      amount: '700',
      currency: 'eur',
      paymentMethod: 'pm_card_visa',
      customerId: '',
      description: '',
      metadata: {},
      captureMethod: CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
    };
    const ofA = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, request, t.md(key));
    const ofB = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, request, asB(key));

    expect(ofA.error).to.equal(undefined);
    expect(ofB.error).to.equal(undefined);
    expect(ofB.headers.get('idempotent-replayed')).to.deep.equal([]);
    expect(ofB.response?.id).to.not.equal(ofA.response?.id);
    const bSeesA = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: ofA.response?.id ?? '' }, asB());
    expect(bSeesA.error?.code).to.equal(Code.NOT_FOUND);
  });
});
