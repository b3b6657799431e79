import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import { CaptureMethod, ChargeStatus, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { callUnary } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

describe('payment flow against MySQL and the provider simulator', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('creates, captures, partially refunds, gets and lists a manual-capture charge', async () => {
    const created = await callUnary(
      t.client,
      PaymentServiceClient.prototype.createCharge,
      {
        amount: '5000',
        currency: 'USD',
        paymentMethod: 'pm_card_visa',
        customerId: 'cus_flow',
        description: 'order 1',
        metadata: { order_id: 'o-1' },
        captureMethod: CaptureMethod.CAPTURE_METHOD_MANUAL,
      },
      t.md('flow-create'),
    );
    expect(created.error).to.equal(undefined);
    const charge = created.response!;
    expect(charge.status).to.equal(ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE);
    expect(charge.currency).to.equal('usd');
    expect(charge.providerReference).to.match(/^pi_/);
    expect(created.headers.get('idempotency-expires-at')[0]).to.match(/^\d{4}-\d\d-\d\dT/);

    const captured = await callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: charge.id, amount: '4000' }, t.md('flow-capture'));
    expect(captured.error).to.equal(undefined);
    expect(captured.response!.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
    expect(captured.response!.amountCaptured).to.equal('4000');

    const refunded = await callUnary(
      t.client,
      PaymentServiceClient.prototype.refundCharge,
      { chargeId: charge.id, amount: '1500', reason: 3 },
      t.md('flow-refund'),
    );
    expect(refunded.error).to.equal(undefined);
    expect(refunded.response!.amount).to.equal('1500');
    expect(refunded.response!.charge!.status).to.equal(ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED);
    expect(refunded.response!.charge!.amountRefunded).to.equal('1500');

    const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: charge.id }, t.md());
    expect(got.response!.amountRefunded).to.equal('1500');
    expect(got.response!.status).to.equal(ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED);

    const listed = await callUnary(t.client, PaymentServiceClient.prototype.listCharges, { pageSize: 10, pageToken: '', customerId: 'cus_flow' }, t.md());
    expect(listed.response!.charges.map((c) => c.id)).to.deep.equal([charge.id]);
  });

  it('replays a completed charge without charging again', async () => {
    const req = { amount: '1200', currency: 'eur', paymentMethod: 'pm_card_visa', customerId: '', description: '', metadata: {}, captureMethod: 0 };
    const first = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, req, t.md('replay-1'));
    const second = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, req, t.md('replay-1'));
    expect(first.error).to.equal(undefined);
    expect(second.response).to.deep.equal(first.response);
    expect(second.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(first.headers.get('idempotent-replayed')).to.deep.equal([]);
    const mismatch = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, { ...req, amount: '1300' }, t.md('replay-1'));
    expect(mismatch.error?.code).to.equal(Code.FAILED_PRECONDITION);
  });
});
