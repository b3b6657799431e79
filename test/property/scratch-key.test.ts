import { CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import * as grpc from '@grpc/grpc-js';
import { RawPaymentClient } from '../support/raw-payment-client.js';
import { startTestServer } from '../support/test-server.js';
describe('scratch', () => {
  it('surrogate cut', async () => {
    const t = await startTestServer();
    const raw = new RawPaymentClient(t.port);
    for (const k of ['\u{22F2F}'.repeat(25) + 'a', 'é'.repeat(41), 'x'.repeat(49) + '\u{1F600}']) {
      const md = new grpc.Metadata(); md.add('authorization', `Bearer ${t.apiKey}`); md.add('idempotency-key', 'k' + Math.random());
      const body = CreateChargeRequest.encode({ amount: '100', currency: 'usd', paymentMethod: 'pm_card_visa', customerId: '', description: '', metadata: { [k]: 'v' }, captureMethod: 1 }).finish();
      const a = await raw.call('/payments.v1.PaymentService/CreateCharge', body, md, 2000);
      console.log(JSON.stringify(k).slice(0, 30), grpc.status[a.code], a.details.slice(0, 80));
    }
    raw.close(); await t.close();
  });
});
