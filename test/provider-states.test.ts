import { randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { CaptureMethod, ChargeStatus, type CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { SIMULATOR_PROCESSING_METHOD } from '../src/simulator/test-payment-methods.js';
import { callUnary, type UnaryResult } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const create = PaymentServiceClient.prototype.createCharge;

function reason(res: UnaryResult<unknown>): string | undefined {
  const bin = res.error?.metadata.get('grpc-status-details-bin')[0];
  return bin instanceof Buffer ? decodeStatusDetails(bin).errorInfo?.reason : undefined;
}

/** PaymentIntents the provider has not finished: neither succeeded nor failed (DESIGN §6). */
const UNSETTLED = [
  {
    paymentMethod: 'pm_card_authenticationRequired',
    intentStatus: 'requires_action',
    status: ChargeStatus.CHARGE_STATUS_REQUIRES_ACTION,
    hint: /authentication/,
  },
  {
    paymentMethod: SIMULATOR_PROCESSING_METHOD,
    intentStatus: 'processing',
    status: ChargeStatus.CHARGE_STATUS_PROCESSING,
    hint: /has not finished this payment/,
  },
] as const;

describe('provider states beyond succeeded and failed', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  const request = (paymentMethod: string, captureMethod: CaptureMethod): CreateChargeRequest => ({
    amount: '2500',
    currency: 'usd',
    paymentMethod,
    customerId: '',
    description: '',
    metadata: { case: paymentMethod },
    captureMethod,
  });

  for (const state of UNSETTLED) {
    for (const captureMethod of [CaptureMethod.CAPTURE_METHOD_AUTOMATIC, CaptureMethod.CAPTURE_METHOD_MANUAL]) {
      it(`records a ${state.intentStatus} PaymentIntent (${state.paymentMethod}, capture ${CaptureMethod[captureMethod]}) as ${ChargeStatus[state.status]}, not as a failure, and replays it`, async () => {
        const key = randomUUID();
        const first = await callUnary(t.client, create, request(state.paymentMethod, captureMethod), t.md(key));

        expect(first.error).to.equal(undefined);
        const charge = first.response!;
        expect(charge.status).to.equal(state.status);
        expect(charge.failureCode).to.equal('');
        expect(charge.declineCode).to.equal('');
        expect(charge.failureMessage).to.equal('');
        expect(charge.amountCaptured).to.equal('0');
        const intent = t.sim.paymentIntents().find((pi) => pi.id === charge.providerReference);
        expect(intent?.status).to.equal(state.intentStatus);
        const [rows] = await t.pool.query<RowDataPacket[]>('SELECT status, failure_code FROM charges WHERE id = ?', [charge.id]);
        expect(rows[0]).to.deep.include({ status: state.intentStatus, failure_code: '' });

        const replay = await callUnary(t.client, create, request(state.paymentMethod, captureMethod), t.md(key));
        expect(replay.headers.get('idempotent-replayed')).to.deep.equal(['true']);
        expect(replay.response).to.deep.equal(charge);
      });
    }

    it(`refuses to capture, cancel or refund a ${state.intentStatus} charge with FAILED_PRECONDITION saying what must happen first, and sends nothing to the provider`, async () => {
      const created = await callUnary(t.client, create, request(state.paymentMethod, CaptureMethod.CAPTURE_METHOD_MANUAL), t.md(randomUUID()));
      const chargeId = created.response!.id;
      const before = t.sim.stats().requests;

      const capture = await callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId }, t.md(randomUUID()));
      const cancel = await callUnary(t.client, PaymentServiceClient.prototype.cancelCharge, { chargeId }, t.md(randomUUID()));
      const refund = await callUnary(t.client, PaymentServiceClient.prototype.refundCharge, { chargeId, reason: 0 }, t.md(randomUUID()));

      for (const [result, verb] of [
        [capture, 'captured'],
        [cancel, 'canceled'],
        [refund, 'refunded'],
      ] as const) {
        expect(result.error?.code, verb).to.equal(Code.FAILED_PRECONDITION);
        expect(result.error?.details).to.include(`charge is ${state.intentStatus}`);
        expect(result.error?.details).to.include(`cannot be ${verb}`);
        expect(result.error?.details).to.match(state.hint);
        expect(reason(result)).to.equal('CHARGE_NOT_SETTLED');
      }
      expect(t.sim.stats().requests, 'a request reached the provider').to.equal(before);
      const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId }, t.md());
      expect(got.response?.status).to.equal(state.status);
    });
  }
});
