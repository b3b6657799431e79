import { randomUUID } from 'node:crypto';
import { status as Code, type Metadata } from '@grpc/grpc-js';
import { expect } from 'chai';
import { CreateChargeRequest } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { ServerMetrics } from '../src/metrics.js';
import { metadata, rawUnary } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';

function charge(order: string, amount = '4200'): Uint8Array {
  return CreateChargeRequest.encode({
    amount,
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: 'cus_mem',
    description: '',
    metadata: { order_id: order },
    captureMethod: 0,
  }).finish();
}

/** Headers without HTTP/2's `date`, which changes every second. */
function withoutDate(md: Metadata): Record<string, unknown> {
  const { date: _date, ...rest } = md.toJSON();
  return rest;
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

  it('replays the outcome it stored from memory, with the same bytes and headers', async () => {
    const key = randomUUID();
    const order = `o-${randomUUID()}`;
    const first = await rawUnary(t.port, CREATE, charge(order), t.md(key));
    expect(first.error).to.equal(undefined);
    const fromMemoryBefore = await events(metrics, 'replayed_from_memory');
    const replays = [await rawUnary(t.port, CREATE, charge(order), t.md(key)), await rawUnary(t.port, CREATE, charge(order), t.md(key))];
    expect(await events(metrics, 'replayed_from_memory')).to.equal(fromMemoryBefore + 2);
    for (const replay of replays) {
      expect(replay.error).to.equal(undefined);
      expect(replay.bytes!.equals(first.bytes!)).to.equal(true);
      expect(replay.headers.get('idempotent-replayed')).to.deep.equal(['true']);
      expect(replay.headers.get('idempotency-expires-at')).to.deep.equal(first.headers.get('idempotency-expires-at'));
    }
    expect(paymentsFor(order)).to.equal(1);
  });

  for (const [outcome, body] of [
    ['a charge', (order: string) => charge(order)],
    [
      'a stored error with details',
      (order: string) => CreateChargeRequest.encode({ ...CreateChargeRequest.decode(charge(order)), paymentMethod: 'pm_no_such_method' }).finish(),
    ],
  ] as const) {
    it(`replays ${outcome} from memory exactly as a replay read from the database: bytes, status, headers and trailers`, async () => {
      const key = randomUUID();
      const request = body(`o-${randomUUID()}`);
      await rawUnary(t.port, CREATE, request, t.md(key));
      const fromMemoryBefore = await events(metrics, 'replayed_from_memory');
      const fromMemory = await rawUnary(t.port, CREATE, request, t.md(key));
      expect(await events(metrics, 'replayed_from_memory')).to.equal(fromMemoryBefore + 1);
      const off = await startTestServer({ pool: t.pool, sim: t.sim, replayCacheEntries: 0 });
      try {
        const fromDatabase = await rawUnary(off.port, CREATE, request, t.md(key));
        expect(fromMemory.bytes?.toString('hex')).to.equal(fromDatabase.bytes?.toString('hex'));
        expect(fromMemory.error?.code).to.equal(fromDatabase.error?.code);
        expect(fromMemory.error?.details).to.equal(fromDatabase.error?.details);
        expect(fromMemory.error?.metadata.toJSON()).to.deep.equal(fromDatabase.error?.metadata.toJSON());
        expect(withoutDate(fromMemory.headers)).to.deep.equal(withoutDate(fromDatabase.headers));
        expect(fromMemory.headers.get('idempotent-replayed')).to.deep.equal(['true']);
      } finally {
        await off.close();
      }
    });
  }

  it('refuses a different payload for a key it holds with FAILED_PRECONDITION, without a provider call', async () => {
    const key = randomUUID();
    const order = `o-${randomUUID()}`;
    await rawUnary(t.port, CREATE, charge(order), t.md(key));
    const requests = t.sim.stats().requests;
    const other = await rawUnary(t.port, CREATE, charge(order, '1'), t.md(key));
    expect(other.error?.code).to.equal(Code.FAILED_PRECONDITION);
    expect(decodeStatusDetails(other.error!.metadata.get('grpc-status-details-bin')[0] as Buffer).errorInfo?.reason).to.equal('IDEMPOTENCY_KEY_REUSED');
    expect(t.sim.stats().requests).to.equal(requests);
    expect(paymentsFor(order)).to.equal(1);
  });

  it('leaves other instances to read the row (once) and other merchants to their own keys', async () => {
    const key = randomUUID();
    const order = `o-${randomUUID()}`;
    const first = await rawUnary(t.port, CREATE, charge(order), t.md(key));
    const otherMetrics = new ServerMetrics();
    const other = await startTestServer({ pool: t.pool, sim: t.sim, metrics: otherMetrics });
    try {
      // The second instance has never seen the key: its first answer comes from the row, the next from memory.
      for (const fromMemory of [0, 1]) {
        const elsewhere = await rawUnary(other.port, CREATE, charge(order), t.md(key));
        expect(elsewhere.bytes!.equals(first.bytes!)).to.equal(true);
        expect(elsewhere.headers.get('idempotent-replayed')).to.deep.equal(['true']);
        expect(await events(otherMetrics, 'replayed_from_memory')).to.equal(fromMemory);
      }
    } finally {
      await other.close();
    }
    const merchant = await t.newMerchant();
    const theirs = await rawUnary(t.port, CREATE, charge(order), metadata({ authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key }));
    expect(theirs.error).to.equal(undefined);
    expect(theirs.headers.get('idempotent-replayed')).to.deep.equal([]);
    expect(theirs.bytes!.equals(first.bytes!)).to.equal(false);
    expect(paymentsFor(order)).to.equal(2);
  });

  it('never keeps an outcome within 5 s of its expiry, so a key reused after its expiry charges anew', async () => {
    // Keys living 4 s are inside the margin from the start: neither the first call nor a replay is kept.
    const shortMetrics = new ServerMetrics();
    const short = await startTestServer({ pool: t.pool, sim: t.sim, metrics: shortMetrics, ttlSeconds: 4 });
    try {
      const key = randomUUID();
      const order = `o-${randomUUID()}`;
      const first = await rawUnary(short.port, CREATE, charge(order), short.md(key));
      for (let i = 0; i < 2; i++)
        expect((await rawUnary(short.port, CREATE, charge(order), short.md(key))).headers.get('idempotent-replayed')).to.deep.equal(['true']);
      expect(await events(shortMetrics, 'replayed')).to.equal(2);
      expect(await events(shortMetrics, 'replayed_from_memory')).to.equal(0);

      await t.pool.query('UPDATE idempotency_keys SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE merchant_id = ? AND idempotency_key = ?', [
        short.merchantId,
        key,
      ]);
      const again = await rawUnary(short.port, CREATE, charge(order), short.md(key));
      expect(again.error).to.equal(undefined);
      expect(again.headers.get('idempotent-replayed')).to.deep.equal([]);
      expect(again.bytes!.equals(first.bytes!)).to.equal(false);
      expect(paymentsFor(order)).to.equal(2);
    } finally {
      await short.close();
    }
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
