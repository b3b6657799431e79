import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { ChargeStatus, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { createLogger } from '../src/logger.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { PROVIDER_TEXT_COLUMNS } from '../src/payments/charge-repository.js';
import { MAX_PROVIDER_TEXT_IN_STATUS } from '../src/payments/provider-refusal.js';
import { ProviderClient } from '../src/provider/provider-client.js';
import { type RunningServer, startServer } from '../src/server.js';
import { sharedPool } from './support/database.js';
import { callUnary, metadata, paymentClient } from './support/grpc-client.js';

/** 4-byte UTF-8 characters (two UTF-16 units each): the case where counting units or bytes goes wrong. */
const LONG = '😀'.repeat(2000);
const SECRET = 'sk_test_provider_text';

/**
 * A provider that answers with text far longer than any column: a decline whose codes and message
 * are 2,000 4-byte characters each, on a PaymentIntent with an id as long, and a refusal of a
 * capture with such a message. Stripe's own texts are short; nothing in the protocol says so.
 */
function verboseProvider(): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const intent = {
        id: `pi_${LONG}`,
        object: 'payment_intent',
        amount: 1000,
        amount_capturable: 0,
        amount_received: 0,
        currency: 'usd',
        status: 'requires_payment_method',
        capture_method: 'automatic',
        payment_method: null,
        customer: null,
        description: null,
        metadata: {},
        created: 1,
      };
      const body =
        req.url === '/v1/payment_intents'
          ? { error: { type: 'card_error', code: `c${LONG}`, decline_code: `d${LONG}`, message: `m${LONG}`, payment_intent: intent } }
          : { error: { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', message: `r${LONG}` } };
      const text = JSON.stringify(body);
      res.writeHead(req.url === '/v1/payment_intents' ? 402 : 400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
}

describe('provider text fits its column', () => {
  let provider: http.Server;
  let client: ProviderClient;
  let running: RunningServer;
  let apiKey: string;
  let merchantId: string;

  before(async () => {
    provider = verboseProvider();
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    client = new ProviderClient({ baseUrl: `http://127.0.0.1:${(provider.address() as AddressInfo).port}`, secretKey: SECRET });
    const pool = await sharedPool();
    running = await startServer({
      pool,
      provider: client,
      log: createLogger('silent'),
      listen: '127.0.0.1:0',
      ttlSeconds: 3600,
      leaseSeconds: 30,
      inFlightWaitMs: 5000,
    });
    ({ apiKey, merchantId } = await new MerchantStore(pool).create(`test-${randomUUID()}`));
  });
  after(async () => {
    await running.shutdown(1000);
    client.close();
    await new Promise<void>((resolve) => provider.close(() => resolve()));
  });

  it('records a decline whose provider texts are longer than their columns, cut by code points without splitting a character', async () => {
    const grpcClient = paymentClient(running.port);
    try {
      const md = metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': randomUUID() });
      const created = await callUnary(
        grpcClient,
        PaymentServiceClient.prototype.createCharge,
        {
          amount: '1000',
          currency: 'usd',
          paymentMethod: 'pm_card_visa',
          customerId: '',
          description: '',
          metadata: {},
          captureMethod: 0,
        },
        md,
      );

      expect(created.error).to.equal(undefined);
      const charge = created.response!;
      expect(charge.status).to.equal(ChargeStatus.CHARGE_STATUS_FAILED);
      expect([...charge.failureCode]).to.have.length(PROVIDER_TEXT_COLUMNS.failureCode);
      expect([...charge.declineCode]).to.have.length(PROVIDER_TEXT_COLUMNS.declineCode);
      expect([...charge.failureMessage]).to.have.length(PROVIDER_TEXT_COLUMNS.failureMessage);
      expect([...charge.providerReference]).to.have.length(PROVIDER_TEXT_COLUMNS.providerReference);
      for (const text of [charge.failureCode, charge.declineCode, charge.failureMessage, charge.providerReference]) {
        expect(text.endsWith('😀'), 'a surrogate pair was split').to.equal(true);
      }
      const pool = await sharedPool();
      const [rows] = await pool.query<RowDataPacket[]>('SELECT failure_code, decline_code, failure_message, provider_reference FROM charges WHERE id = ?', [
        charge.id,
      ]);
      expect(rows[0]).to.deep.equal({
        failure_code: charge.failureCode,
        decline_code: charge.declineCode,
        failure_message: charge.failureMessage,
        provider_reference: charge.providerReference,
      });
    } finally {
      grpcClient.close();
    }
  });

  it('bounds provider text that reaches a status message', async () => {
    const grpcClient = paymentClient(running.port);
    const pool = await sharedPool();
    const chargeId = `ch_${randomUUID().replace(/-/g, '')}`;
    await pool.query(
      `INSERT INTO charges (id, merchant_id, status, amount, currency, metadata, capture_method, payment_method, provider_reference, created_at, updated_at)
       VALUES (?, ?, 'requires_capture', 1000, 'usd', '{}', 'manual', 'pm_card_visa', 'pi_x', NOW(6), NOW(6))`,
      [chargeId, merchantId],
    );
    try {
      const md = metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': randomUUID() });
      const captured = await callUnary(grpcClient, PaymentServiceClient.prototype.captureCharge, { chargeId }, md);

      expect(captured.error?.details).to.match(/^charge_id: the payment provider refused the request: r😀/);
      expect([...captured.error!.details].length).to.be.at.most(MAX_PROVIDER_TEXT_IN_STATUS + 100);
    } finally {
      grpcClient.close();
    }
  });
});
