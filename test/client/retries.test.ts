import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { type ClientEvent, PaymentsClient, type PaymentsClientOptions, PaymentsError } from '../../src/client/index.js';
import { createLogger } from '../../src/logger.js';
import { ServerMetrics } from '../../src/metrics.js';
import { ProviderClient } from '../../src/provider/provider-client.js';
import { startServer } from '../../src/server.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { serverCalls } from './server-calls.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';
const GET = '/payments.v1.PaymentService/GetCharge';

function charge(order: string, amount = '1999'): { amount: string; currency: string; paymentMethod: string; metadata: Record<string, string> } {
  return { amount, currency: 'usd', paymentMethod: 'pm_card_visa', metadata: { order_id: order } };
}

/** Resolves when `predicate` holds for an event; the client's logger hook is the synchronisation point. */
function eventRecorder(): { events: ClientEvent[]; logger: (e: ClientEvent) => void; next(predicate: (e: ClientEvent) => boolean): Promise<ClientEvent> } {
  const events: ClientEvent[] = [];
  const waiters: Array<{ predicate: (e: ClientEvent) => boolean; resolve: (e: ClientEvent) => void }> = [];
  return {
    events,
    logger: (e) => {
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.predicate(e)) w.resolve(e);
        else waiters.push(w);
      }
    },
    next: (predicate) => new Promise((resolve) => waiters.push({ predicate, resolve })),
  };
}

async function rejection(promise: Promise<unknown>): Promise<PaymentsError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(PaymentsError);
    return err as PaymentsError;
  }
  return expect.fail('the call succeeded');
}

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('client library retries against the real server', function () {
  this.timeout(60_000);
  let t: TestServer;
  let metrics: ServerMetrics;
  const clients: PaymentsClient[] = [];

  before(async () => {
    metrics = new ServerMetrics();
    // A short in-flight wait so a duplicate gets ABORTED (IDEMPOTENCY_KEY_IN_USE) quickly.
    t = await startTestServer({ providerTimeoutMs: 500, inFlightWaitMs: 200, metrics });
  });
  after(async () => {
    for (const c of clients) c.close();
    await t.close();
  });

  function client(options: Partial<PaymentsClientOptions> = {}): PaymentsClient {
    const c = new PaymentsClient({ target: `127.0.0.1:${t.port}`, apiKey: t.apiKey, retry: { initialBackoffMs: 10, maxBackoffMs: 100 }, ...options });
    clients.push(c);
    return c;
  }
  const paymentsOf = (order: string): number => t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order).length;

  it('returns the original charge from one call when the provider charged and dropped the connection', async () => {
    const order = `drop-${randomUUID()}`;
    const before = await serverCalls(metrics, CREATE);
    t.sim.faults.add({ kind: 'chargeThenDrop', match: { pathPrefix: '/v1/payment_intents' } });
    const rec = eventRecorder();

    const result = await client({ logger: rec.logger }).createCharge(charge(order));

    const payment = t.sim.paymentIntents().find((pi) => pi.metadata['order_id'] === order);
    expect(paymentsOf(order)).to.equal(1);
    expect(result.response.providerReference).to.equal(payment?.id);
    expect(result.attempts).to.equal(2);
    expect(await serverCalls(metrics, CREATE)).to.equal(before + 2);
    expect(rec.events.map((e) => [e.kind, e.codeName])).to.deep.equal([['retry', 'UNAVAILABLE']]);
    expect(result.idempotencyKey).to.be.a('string').with.length.greaterThanOrEqual(22);
    expect(result.idempotencyExpiresAt?.getTime()).to.be.greaterThan(Date.now());
    const [rows] = await t.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM charges WHERE merchant_id = ? AND provider_reference = ?', [
      t.merchantId,
      payment?.id,
    ]);
    expect(Number(rows[0]?.['n'])).to.equal(1);
  });

  it('surfaces IDEMPOTENCY_KEY_REUSED for a reused key with another payload, after one attempt', async () => {
    const c = client();
    const order = `reuse-${randomUUID()}`;
    const first = await c.createCharge(charge(order));
    const before = await serverCalls(metrics, CREATE);

    const err = await rejection(c.createCharge(charge(order, '2000'), { idempotencyKey: first.idempotencyKey! }));

    expect(err.code).to.equal(Code.FAILED_PRECONDITION);
    expect(err.reason).to.equal('IDEMPOTENCY_KEY_REUSED');
    expect(err.idempotencyKey).to.equal(first.idempotencyKey);
    expect(err.attempts).to.equal(1);
    expect(await serverCalls(metrics, CREATE)).to.equal(before + 1);
    expect(paymentsOf(order)).to.equal(1);
  });

  it('replays the first outcome to a later call that passes the same key and request', async () => {
    const c = client();
    const order = `same-key-${randomUUID()}`;
    const first = await c.createCharge(charge(order));
    expect(first.replayed).to.equal(false);

    const again = await c.createCharge(charge(order), { idempotencyKey: first.idempotencyKey! });

    expect(again.replayed).to.equal(true);
    expect(again.response).to.deep.equal(first.response);
    expect(paymentsOf(order)).to.equal(1);
  });

  it('gives every call its own key when the caller passes none', async () => {
    const c = client();
    const [a, b] = await Promise.all([c.createCharge(charge(`k1-${randomUUID()}`)), c.createCharge(charge(`k2-${randomUUID()}`))]);
    expect(a.idempotencyKey).to.not.equal(b.idempotencyKey);
    expect(a.response.id).to.not.equal(b.response.id);
  });

  it('waits as the server asks (RetryInfo) while the same key is in use, then returns the shared result', async () => {
    const order = `in-use-${randomUUID()}`;
    const key = `in-use-${randomUUID()}`;
    t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
    const leader = client().createCharge(charge(order), { idempotencyKey: key });
    await t.sim.whenHeld(1);
    const rec = eventRecorder();
    const follower = client({ logger: rec.logger }).createCharge(charge(order), { idempotencyKey: key });
    const retry = await rec.next((e) => e.kind === 'retry');
    t.sim.releaseHeld();

    const [l, f] = await Promise.all([leader, follower]);

    expect(retry).to.include({ codeName: 'ABORTED', reason: 'IDEMPOTENCY_KEY_IN_USE' });
    // The server's RetryInfo is at least 100 ms; full jitter alone would stay under 10 ms here.
    expect(retry.kind === 'retry' && retry.delayMs).to.be.at.least(100);
    expect(f.response).to.deep.equal(l.response);
    expect(f.replayed).to.equal(true);
    expect(f.attempts).to.be.greaterThan(1);
    expect(paymentsOf(order)).to.equal(1);
  });

  it('retries an attempt that ran out of its own deadline with the same key, and charges once', async () => {
    const order = `attempt-deadline-${randomUUID()}`;
    t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
    const rec = eventRecorder();
    const pending = client({ logger: rec.logger, retry: { attemptTimeoutMs: 300, initialBackoffMs: 10, maxBackoffMs: 50 } }).createCharge(charge(order));
    const retry = await rec.next((e) => e.kind === 'retry');
    expect(retry).to.include({ codeName: 'DEADLINE_EXCEEDED' });
    t.sim.releaseHeld();

    const result = await pending;

    expect(result.attempts).to.be.greaterThan(1);
    expect(paymentsOf(order)).to.equal(1);
    expect(result.response.providerReference).to.equal(t.sim.paymentIntents().find((pi) => pi.metadata['order_id'] === order)?.id);
  });

  it('does not retry INVALID_ARGUMENT and names the field at fault', async () => {
    const before = await serverCalls(metrics, CREATE);
    const err = await rejection(client().createCharge({ ...charge(`bad-${randomUUID()}`), amount: '0' }));
    expect(err.code).to.equal(Code.INVALID_ARGUMENT);
    expect(err.field).to.equal('amount');
    expect(err.attempts).to.equal(1);
    expect(err.idempotencyKey).to.be.a('string');
    expect(await serverCalls(metrics, CREATE)).to.equal(before + 1);
  });

  it('does not retry UNAUTHENTICATED', async () => {
    const before = await serverCalls(metrics, CREATE);
    const err = await rejection(client({ apiKey: 'sk_wrong' }).createCharge(charge(`unauth-${randomUUID()}`)));
    expect(err.code).to.equal(Code.UNAUTHENTICATED);
    expect(err.attempts).to.equal(1);
    expect(await serverCalls(metrics, CREATE)).to.equal(before + 1);
  });

  it('does not retry NOT_FOUND, and reads carry no key', async () => {
    const before = await serverCalls(metrics, GET);
    const err = await rejection(client().getCharge({ chargeId: 'ch_does_not_exist' }));
    expect(err.code).to.equal(Code.NOT_FOUND);
    expect(err.attempts).to.equal(1);
    expect(err.idempotencyKey).to.equal(undefined);
    expect(await serverCalls(metrics, GET)).to.equal(before + 1);
  });

  it('retries a read without a key until the server it was sent to comes up', async () => {
    const created = await client().createCharge(charge(`read-${randomUUID()}`));
    const port = await freePort();
    const rec = eventRecorder();
    // Enough attempts to outlast grpc-js's reconnect backoff (about a second at first).
    const pending = client({ target: `127.0.0.1:${port}`, logger: rec.logger, retry: { maxAttempts: 100, initialBackoffMs: 50, maxBackoffMs: 200 } }).getCharge(
      { chargeId: created.response.id },
    );
    await rec.next((e) => e.kind === 'retry' && e.codeName === 'UNAVAILABLE');
    const provider = new ProviderClient({ baseUrl: t.sim.url, secretKey: t.sim.secretKey });
    const late = await startServer({
      pool: t.pool,
      provider,
      log: createLogger('silent'),
      listen: `127.0.0.1:${port}`,
      ttlSeconds: 86_400,
      leaseSeconds: 30,
      inFlightWaitMs: 1_000,
    });
    try {
      const read = await pending;
      expect(read.response.id).to.equal(created.response.id);
      expect(read.idempotencyKey).to.equal(undefined);
      expect(read.attempts).to.be.greaterThan(1);
    } finally {
      await late.shutdown(1_000);
      provider.close();
    }
  });

  it('stops at the call deadline with the last error when nothing answers', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await rejection(
      client({ target: `127.0.0.1:${port}`, deadlineMs: 1_000, retry: { maxAttempts: 1_000, initialBackoffMs: 50, maxBackoffMs: 100 } }).createCharge(
        charge('never'),
      ),
    );
    expect(err.code).to.equal(Code.UNAVAILABLE);
    expect(err.attempts).to.be.greaterThan(1).and.lessThan(1_000);
    expect(Date.now() - started).to.be.lessThan(3_000);
  });

  it('stops after maxAttempts', async () => {
    const port = await freePort();
    const err = await rejection(
      client({ target: `127.0.0.1:${port}`, retry: { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 5 } }).createCharge(charge('never')),
    );
    expect(err.code).to.equal(Code.UNAVAILABLE);
    expect(err.attempts).to.equal(3);
  });
});
