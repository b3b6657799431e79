/**
 * The client library against server processes (`src/main.ts`, the code `npm start` runs compiled) that are
 * SIGKILLed while calls are in flight. The provider simulator's `hold` fault parks provider
 * requests, so the kill lands while the server has sent a charge to the provider and not recorded
 * it yet: the worst moment, an outcome unknown to every server.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { type CallResult, type Charge, type ClientEvent, PaymentsClient } from '../../src/client/index.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { type ProviderSimulator, startProviderSimulator } from '../../src/simulator/simulator.js';
import { sharedDatabaseUrl, sharedPool } from '../support/database.js';
import { type ServerProcess, startServerProcess } from '../support/server-process.js';

/** Calls of the concurrency test; all are in flight together. */
const CONCURRENT_CALLS = 1_000;
/** Sequential reads before the load: far more than round robin needs to connect to both instances. */
const WARM_UP_CALLS = 20;
/** Provider requests parked before the kill, so a good share of the killed instance's calls are mid-charge. */
const HELD_BEFORE_KILL = 100;

describe('client library while server processes are SIGKILLed mid-call', function () {
  this.timeout(180_000);
  let sim: ProviderSimulator;
  const processes: ServerProcess[] = [];
  const clients: PaymentsClient[] = [];
  let env: Record<string, string>;

  before(async () => {
    sim = await startProviderSimulator();
    await sharedPool();
    env = {
      MYSQL_URL: sharedDatabaseUrl(),
      PAYMENTS_PROVIDER_URL: sim.url,
      PAYMENTS_PROVIDER_SECRET_KEY: sim.secretKey,
      // A dead instance's claims are taken over after the lease; 1 s keeps the test short.
      IDEMPOTENCY_LEASE_SECONDS: '1',
      // The background completer stays off: the client's retries alone must finish every call.
      IDEMPOTENCY_COMPLETER_INTERVAL_MS: '3600000',
    };
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
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

  async function merchant(): Promise<{ apiKey: string; merchantId: string }> {
    return new MerchantStore(await sharedPool()).create(`client-kill-${randomUUID()}`);
  }

  async function chargesOf(merchantId: string): Promise<string[]> {
    const [rows] = await (await sharedPool()).query<RowDataPacket[]>('SELECT provider_reference FROM charges WHERE merchant_id = ?', [merchantId]);
    return rows.map((r) => String(r['provider_reference']));
  }

  it('ends one call with one charge when its server is killed mid-call and restarted', async () => {
    const { apiKey, merchantId } = await merchant();
    const victim = await start();
    const events: ClientEvent[] = [];
    const client = new PaymentsClient({
      target: `127.0.0.1:${victim.port}`,
      apiKey,
      // Room for the restart (a few seconds of tsx start-up) within the call's deadline.
      retry: { maxAttempts: 200, initialBackoffMs: 50, maxBackoffMs: 250 },
      deadlineMs: 90_000,
      logger: (e) => events.push(e),
    });
    clients.push(client);
    const order = `kill-restart-${randomUUID()}`;
    sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });

    const pending = client.createCharge({ amount: '4200', currency: 'usd', paymentMethod: 'pm_card_visa', metadata: { order_id: order } });
    await sim.whenHeld(1);
    await victim.stop('SIGKILL');
    // The provider charges now; its answer goes to a dead process.
    sim.releaseHeld();
    await start({ PAYMENTS_LISTEN: `127.0.0.1:${victim.port}` });
    const result = await pending;

    const payments = sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order);
    expect(payments).to.have.length(1);
    expect(result.response.providerReference).to.equal(payments[0]?.id);
    expect(result.attempts).to.be.greaterThan(1);
    expect(events[0]).to.include({ kind: 'retry', codeName: 'UNAVAILABLE' });
    expect(await chargesOf(merchantId)).to.deep.equal([payments[0]?.id]);
  });

  it(`completes ${CONCURRENT_CALLS} concurrent calls with 0 duplicates while one of two instances is killed`, async () => {
    const { apiKey, merchantId } = await merchant();
    const [a, b] = await Promise.all([start(), start()]);
    const client = new PaymentsClient({
      target: `ipv4:127.0.0.1:${a!.port},127.0.0.1:${b!.port}`,
      apiKey,
      // 1,000 calls of one merchant on the one surviving instance meet its in-flight limit (64) again
      // and again; the call deadline, not the attempt count, is what bounds them.
      retry: { maxAttempts: 100, initialBackoffMs: 50, maxBackoffMs: 1_000 },
      deadlineMs: 120_000,
    });
    clients.push(client);
    // Calls made before any address is connected all queue for the first one that is; a few
    // sequential calls first let round robin connect to both, so the load is spread over both.
    for (let i = 0; i < WARM_UP_CALLS; i++) await client.listCharges({ pageSize: 1 });
    const run = randomUUID();
    sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' }, times: HELD_BEFORE_KILL });

    const calls: Array<Promise<CallResult<Charge>>> = [];
    for (let i = 0; i < CONCURRENT_CALLS; i++) {
      calls.push(client.createCharge({ amount: '1000', currency: 'usd', paymentMethod: 'pm_card_visa', metadata: { run, order_id: `${run}-${i}` } }));
    }
    await sim.whenHeld(HELD_BEFORE_KILL);
    await a!.stop('SIGKILL');
    sim.releaseHeld();
    const settled = await Promise.allSettled(calls);

    const failed = settled.filter((s) => s.status === 'rejected');
    expect(failed.map((f) => String((f as PromiseRejectedResult).reason)).slice(0, 3), `${failed.length} calls failed`).to.deep.equal([]);
    const results = settled.map((s) => (s as PromiseFulfilledResult<CallResult<Charge>>).value);
    const payments = sim.paymentIntents().filter((pi) => pi.metadata['run'] === run);
    const orders = new Set(payments.map((pi) => pi.metadata['order_id']));
    expect(payments, 'provider payments').to.have.length(CONCURRENT_CALLS);
    expect(orders.size, 'distinct orders charged at the provider').to.equal(CONCURRENT_CALLS);
    expect(new Set(results.map((r) => r.response.providerReference)).size).to.equal(CONCURRENT_CALLS);
    const recorded = await chargesOf(merchantId);
    expect(recorded).to.have.length(CONCURRENT_CALLS);
    expect(new Set(recorded)).to.deep.equal(new Set(payments.map((pi) => pi.id)));
    const retried = results.filter((r) => r.attempts > 1).length;
    // The figure for the docs: how much of the load the kill hit.
    console.log(
      `      ${retried} of ${CONCURRENT_CALLS} calls needed more than one attempt (max ${Math.max(...results.map((r) => r.attempts))}); 0 duplicates, 0 failures`,
    );
    expect(retried, 'the kill hit no call; the test proves nothing').to.be.greaterThan(0);
  });
});
