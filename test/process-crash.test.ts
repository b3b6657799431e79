import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { CrashHarness, chargeRequest } from './support/crash-harness.js';
import { sharedPool } from './support/database.js';
import { callUnary, metadata, paymentClient } from './support/grpc-client.js';

const AMOUNT = '7300';

/** Polls a condition; the server's own timers (lease, completer) decide when it becomes true. */
async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('server process SIGKILLed between provider_requested and charge_recorded', function () {
  this.timeout(180_000);
  // Short lease so recovery happens within the test; the completer is off unless a test turns it on.
  const harness = new CrashHarness({ IDEMPOTENCY_LEASE_SECONDS: '1', IDEMPOTENCY_COMPLETER_INTERVAL_MS: '3600000' });
  before(() => harness.setUp());
  after(() => harness.tearDown());

  /** Starts a charge on a fresh process, SIGKILLs it once the provider has the request, and waits for the provider's payment. */
  async function chargeAndCrash(apiKey: string, key: string, order: string): Promise<void> {
    await harness.chargeAndCrash(await harness.start(), chargeRequest(order, AMOUNT), apiKey, key);
    await eventually(async () => (harness.sim.paymentIntents().some((pi) => pi.metadata['order_id'] === order) ? true : undefined), 10_000);
  }

  it('resumes on another instance when the client retries after the lease, and the provider holds exactly one payment', async () => {
    const { apiKey, merchantId } = await new MerchantStore(await sharedPool()).create(`crash-${randomUUID()}`);
    const key = randomUUID();
    const order = `crash-retry-${key}`;
    await chargeAndCrash(apiKey, key, order);

    const survivor = await harness.start();
    const client = paymentClient(survivor.port);
    const retry = await callUnary(
      client,
      PaymentServiceClient.prototype.createCharge,
      chargeRequest(order, AMOUNT),
      metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key }),
    );
    client.close();
    expect(retry.error).to.equal(undefined);
    const payments = harness.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order);
    expect(payments).to.have.length(1);
    expect(retry.response!.providerReference).to.equal(payments[0]!.id);
    const [rows] = await (await sharedPool()).query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM charges WHERE merchant_id = ?', [merchantId]);
    expect(Number(rows[0]?.['n'])).to.equal(1);
  });

  it('is finished by the background completer when no client ever retries', async () => {
    const { apiKey, merchantId } = await new MerchantStore(await sharedPool()).create(`crash-${randomUUID()}`);
    const key = randomUUID();
    const order = `crash-completer-${key}`;
    await chargeAndCrash(apiKey, key, order);

    await harness.start({ IDEMPOTENCY_COMPLETER_INTERVAL_MS: '200' });
    const pool = await sharedPool();
    const row = await eventually(async () => {
      const [rows] = await pool.query<RowDataPacket[]>(
        "SELECT state, recovery_point FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ? AND state = 'completed'",
        [merchantId, key],
      );
      return rows[0];
    }, 30_000);
    expect(row['recovery_point']).to.equal('completed');
    const [charges] = await pool.query<RowDataPacket[]>('SELECT provider_reference FROM charges WHERE merchant_id = ?', [merchantId]);
    const payments = harness.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order);
    expect(payments).to.have.length(1);
    expect(charges.map((c) => c['provider_reference'])).to.deep.equal([payments[0]!.id]);
  });
});
