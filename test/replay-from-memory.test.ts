import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { status as Code } from '@grpc/grpc-js';
import { CreateChargeRequest } from '../src/gen/payments/v1/payments.js';
import { ServerMetrics } from '../src/grpc/metrics.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { rawUnary } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';

function charge(order: string, amount = '4200'): Uint8Array {
  return CreateChargeRequest.encode({
    amount, currency: 'usd', paymentMethod: 'pm_card_visa', customerId: 'cus_mem', description: '', metadata: { order_id: order }, captureMethod: 0,
  }).finish();
}

async function events(metrics: ServerMetrics, event: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('payments_idempotency_events_total')!.get();
  return metric.values.find((v) => v.labels['event'] === event)?.value ?? 0;
}

describe('replays of completed keys answered from memory', () => {
  let metrics: ServerMetrics;
  let t: TestServer;
  before(async () => {
    metrics = new ServerMetrics();
    t = await startTestServer({ metrics });
  });
  after(async () => {
    await t.close();
  });
  const paymentsFor = (order: string): number => t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order).length;

  it('reads a completed key once, then replays it from memory with the same bytes and headers', async () => {
    const key = randomUUID();
    const order = `o-${randomUUID()}`;
    const first = await rawUnary(t.port, CREATE, charge(order), t.md(key));
    expect(first.error).to.equal(undefined);
    const fromMemoryBefore = await events(metrics, 'replayed_from_memory');

    const fromDatabase = await rawUnary(t.port, CREATE, charge(order), t.md(key));
    expect(await events(metrics, 'replayed_from_memory')).to.equal(fromMemoryBefore);
    const fromMemory = await rawUnary(t.port, CREATE, charge(order), t.md(key));
    expect(await events(metrics, 'replayed_from_memory')).to.equal(fromMemoryBefore + 1);

    for (const replay of [fromDatabase, fromMemory]) {
      expect(replay.error).to.equal(undefined);
      expect(replay.bytes!.equals(first.bytes!)).to.equal(true);
      expect(replay.headers.get('idempotent-replayed')).to.deep.equal(['true']);
      expect(replay.headers.get('idempotency-expires-at')).to.deep.equal(first.headers.get('idempotency-expires-at'));
    }
    expect(paymentsFor(order)).to.equal(1);
  });

  it('refuses a different payload for a key it holds with FAILED_PRECONDITION, without a provider call', async () => {
    const key = randomUUID();
    const order = `o-${randomUUID()}`;
    await rawUnary(t.port, CREATE, charge(order), t.md(key));
    await rawUnary(t.port, CREATE, charge(order), t.md(key)); // read from the database, kept
    const fromMemoryBefore = await events(metrics, 'replayed_from_memory');
    const requests = t.sim.stats().requests;

    const other = await rawUnary(t.port, CREATE, charge(order, '1'), t.md(key));
    expect(other.error?.code).to.equal(Code.FAILED_PRECONDITION);
    expect(decodeStatusDetails(other.error!.metadata.get('grpc-status-details-bin')[0] as Buffer).errorInfo?.reason).to.equal('IDEMPOTENCY_KEY_REUSED');
    expect(t.sim.stats().requests).to.equal(requests);
    // Still a replay for the original payload, from memory.
    expect((await rawUnary(t.port, CREATE, charge(order), t.md(key))).headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(await events(metrics, 'replayed_from_memory')).to.equal(fromMemoryBefore + 1);
  });

  it('leaves other instances and other merchants to the database', async () => {
    const key = randomUUID();
    const order = `o-${randomUUID()}`;
    const first = await rawUnary(t.port, CREATE, charge(order), t.md(key));
    await rawUnary(t.port, CREATE, charge(order), t.md(key)); // kept by this instance only
    const other = await startTestServer({ pool: t.pool, sim: t.sim });
    try {
      // The second instance has never seen the key: its answer comes from the row.
      const elsewhere = await rawUnary(other.port, CREATE, charge(order), metadataFor(other.md(key), t.apiKey));
      expect(elsewhere.bytes!.equals(first.bytes!)).to.equal(true);
      expect(elsewhere.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    } finally {
      await other.close();
    }
    const merchant = await t.newMerchant();
    const theirs = await rawUnary(t.port, CREATE, charge(order), metadataFor(t.md(key), merchant.apiKey));
    expect(theirs.error).to.equal(undefined);
    expect(theirs.headers.get('idempotent-replayed')).to.deep.equal([]);
    expect(theirs.bytes!.equals(first.bytes!)).to.equal(false);
    expect(paymentsFor(order)).to.equal(2);
  });

  it('never keeps an outcome within the expiry margin, so a key reused after its expiry charges anew', async () => {
    const key = randomUUID();
    const order = `o-${randomUUID()}`;
    const first = await rawUnary(t.port, CREATE, charge(order), t.md(key));
    await t.pool.query('UPDATE idempotency_keys SET expires_at = NOW(6) + INTERVAL 2 SECOND WHERE merchant_id = ? AND idempotency_key = ?', [t.merchantId, key]);
    const fromMemoryBefore = await events(metrics, 'replayed_from_memory');
    expect((await rawUnary(t.port, CREATE, charge(order), t.md(key))).headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect((await rawUnary(t.port, CREATE, charge(order), t.md(key))).headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(await events(metrics, 'replayed_from_memory')).to.equal(fromMemoryBefore);

    await t.pool.query('UPDATE idempotency_keys SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE merchant_id = ? AND idempotency_key = ?', [t.merchantId, key]);
    const again = await rawUnary(t.port, CREATE, charge(order), t.md(key));
    expect(again.error).to.equal(undefined);
    expect(again.headers.get('idempotent-replayed')).to.deep.equal([]);
    expect(again.bytes!.equals(first.bytes!)).to.equal(false);
    expect(paymentsFor(order)).to.equal(2);
  });

  it('is off with 0 entries: every replay reads the database', async () => {
    const offMetrics = new ServerMetrics();
    const off = await startTestServer({ pool: t.pool, sim: t.sim, metrics: offMetrics, replayCacheEntries: 0 });
    try {
      const key = randomUUID();
      const order = `o-${randomUUID()}`;
      for (let i = 0; i < 4; i++) expect((await rawUnary(off.port, CREATE, charge(order), off.md(key))).error).to.equal(undefined);
      expect(await events(offMetrics, 'replayed')).to.equal(3);
      expect(await events(offMetrics, 'replayed_from_memory')).to.equal(0);
    } finally {
      await off.close();
    }
  });
});

/** The same metadata with another merchant's API key. */
function metadataFor(md: ReturnType<TestServer['md']>, apiKey: string): ReturnType<TestServer['md']> {
  md.set('authorization', `Bearer ${apiKey}`);
  return md;
}
