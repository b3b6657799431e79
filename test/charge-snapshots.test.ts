import { randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { CaptureMethod, type Charge, ChargeStatus, PaymentServiceClient, type Refund, RefundStatus } from '../src/gen/payments/v1/payments.js';
import { SIMULATOR_REFUND_FAILED_METHOD, SIMULATOR_REFUND_PENDING_METHOD } from '../src/simulator/test-payment-methods.js';
import { callUnary, type UnaryResult } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const create = PaymentServiceClient.prototype.createCharge;
const refundCall = PaymentServiceClient.prototype.refundCharge;

async function storedCharge(t: TestServer, id: string): Promise<{ amountRefunded: string; status: string }> {
  const [rows] = await t.pool.query<RowDataPacket[]>('SELECT amount_refunded, status FROM charges WHERE id = ?', [id]);
  return { amountRefunded: String(rows[0]?.['amount_refunded']), status: String(rows[0]?.['status']) };
}

async function refundRows(t: TestServer, chargeId: string): Promise<RowDataPacket[]> {
  const [rows] = await t.pool.query<RowDataPacket[]>('SELECT amount, status, idempotency_key_id FROM refunds WHERE charge_id = ?', [chargeId]);
  return rows;
}

async function charge(t: TestServer, paymentMethod = 'pm_card_visa', captureMethod = CaptureMethod.CAPTURE_METHOD_AUTOMATIC): Promise<Charge> {
  const created = await callUnary(
    t.client,
    create,
    {
      amount: '1000',
      currency: 'usd',
      paymentMethod,
      customerId: '',
      description: '',
      metadata: {},
      captureMethod,
    },
    t.md(randomUUID()),
  );
  expect(created.error).to.equal(undefined);
  return created.response!;
}

/** Two refunds on different keys, both past the provider before either is recorded. */
async function concurrentRefunds(t: TestServer, chargeId: string, keys: [string | undefined, string | undefined]): Promise<UnaryResult<Refund>[]> {
  t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/refunds' }, times: 2 });
  const calls = keys.map((key) => callUnary(t.client, refundCall, { chargeId, amount: '500', reason: 0 }, t.md(key)));
  await t.sim.whenHeld(2);
  t.sim.releaseHeld();
  return Promise.all(calls);
}

describe('charge snapshots: answers come from the transaction that recorded them', () => {
  describe('with the idempotency interceptor', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer();
    });
    after(async () => {
      await t.close();
    });

    it('answers two concurrent half refunds on different keys each with the charge as stored right after it, and the database holds their sum', async () => {
      const { id } = await charge(t);
      const keys: [string, string] = [randomUUID(), randomUUID()];

      const results = await concurrentRefunds(t, id, keys);

      for (const r of results) expect(r.error).to.equal(undefined);
      const answered = results.map((r) => r.response!.charge!).sort((a, b) => Number(a.amountRefunded) - Number(b.amountRefunded));
      // One refund was recorded first and saw 500 refunded; the other saw both.
      expect(answered.map((c) => [c.amountRefunded, c.status])).to.deep.equal([
        ['500', ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED],
        ['1000', ChargeStatus.CHARGE_STATUS_REFUNDED],
      ]);
      expect(await storedCharge(t, id)).to.deep.equal({ amountRefunded: '1000', status: 'refunded' });
      expect(await refundRows(t, id)).to.have.length(2);
      expect(t.sim.refunds().filter((r) => r.payment_intent === answered[0]!.providerReference)).to.have.length(2);
      // What each key stored for replay is what it answered.
      for (const [i, key] of keys.entries()) {
        const replay = await callUnary(t.client, refundCall, { chargeId: id, amount: '500', reason: 0 }, t.md(key));
        expect(replay.headers.get('idempotent-replayed')).to.deep.equal(['true']);
        expect(replay.response).to.deep.equal(results[i]!.response);
      }
    });

    it('records a refund the provider answers failed without changing amount_refunded', async () => {
      const { id } = await charge(t, SIMULATOR_REFUND_FAILED_METHOD);

      const result = await callUnary(t.client, refundCall, { chargeId: id, amount: '400', reason: 0 }, t.md(randomUUID()));

      expect(result.error).to.equal(undefined);
      expect(result.response!.status).to.equal(RefundStatus.REFUND_STATUS_FAILED);
      expect(result.response!.charge!.amountRefunded).to.equal('0');
      expect(result.response!.charge!.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
      expect(await storedCharge(t, id)).to.deep.equal({ amountRefunded: '0', status: 'succeeded' });
      expect((await refundRows(t, id)).map((r) => r['status'])).to.deep.equal(['failed']);
    });

    it('records a refund the provider answers pending as pending, counted in amount_refunded as Stripe counts it', async () => {
      const { id } = await charge(t, SIMULATOR_REFUND_PENDING_METHOD);

      const result = await callUnary(t.client, refundCall, { chargeId: id, amount: '600', reason: 0 }, t.md(randomUUID()));

      expect(result.error).to.equal(undefined);
      expect(result.response!.status).to.equal(RefundStatus.REFUND_STATUS_PENDING);
      expect(result.response!.charge!.amountRefunded).to.equal('600');
      expect(result.response!.charge!.status).to.equal(ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED);
      expect((await refundRows(t, id)).map((r) => r['status'])).to.deep.equal(['pending']);
      // The pending money is not refundable a second time.
      const tooMuch = await callUnary(t.client, refundCall, { chargeId: id, amount: '500', reason: 0 }, t.md(randomUUID()));
      expect(tooMuch.error?.code).to.equal(Code.FAILED_PRECONDITION);
      expect(tooMuch.error?.details).to.include('refundable amount 400');
    });

    it('writes no refund row and answers no success when the charge update matches no row', async () => {
      const { id } = await charge(t);
      const key = randomUUID();
      t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/refunds' } });
      const call = callUnary(t.client, refundCall, { chargeId: id, amount: '500', reason: 0 }, t.md(key));
      await t.sim.whenHeld(1);
      // The stored charge moves on while the provider works: the guarded update cannot apply.
      await t.pool.query("UPDATE charges SET amount_refunded = amount_captured, status = 'refunded' WHERE id = ?", [id]);
      t.sim.releaseHeld();

      const result = await call;

      expect(result.error, 'a refund the charge cannot hold must not be answered OK').to.not.equal(undefined);
      expect(await refundRows(t, id)).to.deep.equal([]);
      expect(await storedCharge(t, id)).to.deep.equal({ amountRefunded: '1000', status: 'refunded' });
      const retry = await callUnary(t.client, refundCall, { chargeId: id, amount: '500', reason: 0 }, t.md(key));
      expect(retry.error).to.not.equal(undefined);
      expect(await refundRows(t, id)).to.deep.equal([]);
    });

    it('answers a capture from the stored charge, and never claims a capture the database did not record', async () => {
      const ok = await charge(t, 'pm_card_visa', CaptureMethod.CAPTURE_METHOD_MANUAL);
      const captured = await callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: ok.id, amount: '700' }, t.md(randomUUID()));
      expect(captured.response?.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
      expect(captured.response?.amountCaptured).to.equal('700');
      const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: ok.id }, t.md());
      expect(captured.response).to.deep.equal(got.response);

      const { id } = await charge(t, 'pm_card_visa', CaptureMethod.CAPTURE_METHOD_MANUAL);
      t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents/' } });
      const call = callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: id }, t.md(randomUUID()));
      await t.sim.whenHeld(1);
      await t.pool.query("UPDATE charges SET status = 'canceled' WHERE id = ?", [id]);
      t.sim.releaseHeld();

      const result = await call;

      expect(result.response?.status, 'answered a state the database does not hold').to.equal(undefined);
      expect(result.error).to.not.equal(undefined);
      expect((await storedCharge(t, id)).status).to.equal('canceled');
    });

    it('never claims a cancel the database did not record', async () => {
      const { id } = await charge(t, 'pm_card_visa', CaptureMethod.CAPTURE_METHOD_MANUAL);
      t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents/' } });
      const call = callUnary(t.client, PaymentServiceClient.prototype.cancelCharge, { chargeId: id }, t.md(randomUUID()));
      await t.sim.whenHeld(1);
      await t.pool.query("UPDATE charges SET status = 'succeeded' WHERE id = ?", [id]);
      t.sim.releaseHeld();

      const result = await call;

      expect(result.response?.status, 'answered a state the database does not hold').to.equal(undefined);
      expect(result.error).to.not.equal(undefined);
      expect((await storedCharge(t, id)).status).to.equal('succeeded');
    });
  });

  describe('without the idempotency interceptor (benchmark baseline)', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ withoutIdempotency: true });
    });
    after(async () => {
      await t.close();
    });

    it('answers concurrent refunds from their own transaction too', async () => {
      const { id } = await charge(t);

      const results = await concurrentRefunds(t, id, [undefined, undefined]);

      for (const r of results) expect(r.error).to.equal(undefined);
      expect(results.map((r) => r.response!.charge!.amountRefunded).sort()).to.deep.equal(['1000', '500']);
      expect(await storedCharge(t, id)).to.deep.equal({ amountRefunded: '1000', status: 'refunded' });
      expect((await refundRows(t, id)).map((r) => r['idempotency_key_id'])).to.deep.equal([null, null]);
    });
  });
});
