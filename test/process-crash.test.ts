import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { type CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { type ProviderSimulator, startProviderSimulator } from '../src/simulator/simulator.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';
import { callUnary, metadata, paymentClient } from './support/grpc-client.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

function chargeRequest(order: string): CreateChargeRequest {
  return { amount: '7300', currency: 'usd', paymentMethod: 'pm_card_visa', customerId: '', description: '', metadata: { order_id: order }, captureMethod: 0 };
}

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
  let sim: ProviderSimulator;
  const processes: ServerProcess[] = [];
  let env: Record<string, string>;

  before(async () => {
    sim = await startProviderSimulator();
    await sharedPool();
    env = {
      MYSQL_URL: sharedDatabaseUrl(),
      PAYMENTS_PROVIDER_URL: sim.url,
      PAYMENTS_PROVIDER_SECRET_KEY: sim.secretKey,
      // Short lease so recovery happens within the test; the completer is off unless a test turns it on.
      IDEMPOTENCY_LEASE_SECONDS: '1',
      IDEMPOTENCY_COMPLETER_INTERVAL_MS: '3600000',
    };
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await sim.close();
  });

  async function start(extra: Record<string, string> = {}): Promise<ServerProcess> {
    const p = await startServerProcess({ ...env, ...extra });
    processes.push(p);
    return p;
  }

  /** Starts a charge on a fresh process, lets the provider receive it, and SIGKILLs the process before it records anything. */
  async function chargeAndCrash(apiKey: string, key: string, order: string): Promise<void> {
    const victim = await start();
    const client = paymentClient(victim.port);
    sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
    const pending = callUnary(
      client,
      PaymentServiceClient.prototype.createCharge,
      chargeRequest(order),
      metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key }),
    );
    await sim.whenHeld(1);
    await victim.stop('SIGKILL');
    // The provider now finishes the charge; its answer goes to a dead process.
    sim.releaseHeld();
    expect((await pending).error).to.not.equal(undefined);
    client.close();
    await eventually(async () => (sim.paymentIntents().some((pi) => pi.metadata['order_id'] === order) ? true : undefined), 10_000);
  }

  it('resumes on another instance when the client retries after the lease, and the provider holds exactly one payment', async () => {
    const { apiKey, merchantId } = await new MerchantStore(await sharedPool()).create(`crash-${randomUUID()}`);
    const key = randomUUID();
    const order = `crash-retry-${key}`;
    await chargeAndCrash(apiKey, key, order);

    const survivor = await start();
    const client = paymentClient(survivor.port);
    const retry = await callUnary(
      client,
      PaymentServiceClient.prototype.createCharge,
      chargeRequest(order),
      metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key }),
    );
    client.close();
    expect(retry.error).to.equal(undefined);
    const payments = sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order);
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

    await start({ IDEMPOTENCY_COMPLETER_INTERVAL_MS: '200' });
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
    const payments = sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order);
    expect(payments).to.have.length(1);
    expect(charges.map((c) => c['provider_reference'])).to.deep.equal([payments[0]!.id]);
  });
});
