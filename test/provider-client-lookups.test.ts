import http from 'node:http';
import { expect } from 'chai';
import { metadataSearchQuery, ProviderClient } from '../src/provider/provider-client.js';
import { ProviderInvalidRequestError } from '../src/provider/provider-error.js';
import { type ProviderSimulator, startProviderSimulator } from '../src/simulator/simulator.js';
import { SIMULATOR_PROCESSING_METHOD, SIMULATOR_REFUND_FAILED_METHOD, SIMULATOR_REFUND_PENDING_METHOD } from '../src/simulator/test-payment-methods.js';

const visa = { amount: 1_500, currency: 'usd', paymentMethod: 'pm_card_visa', captureMethod: 'automatic' as const };

function get(sim: ProviderSimulator, path: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.url}${path}`, { headers: { authorization: `Bearer ${sim.secretKey}` }, agent: false }, (res) => {
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (raw += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(raw) as unknown }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('provider lookups, states and refund outcomes (client against the simulator)', () => {
  let sim: ProviderSimulator;
  let client: ProviderClient;
  let seq = 0;
  const key = (): string => `lookup-key-${++seq}`;

  before(async () => {
    sim = await startProviderSimulator();
    client = new ProviderClient({ baseUrl: sim.url, secretKey: sim.secretKey });
  });
  afterEach(() => sim.reset());
  after(async () => {
    client.close();
    await sim.close();
  });

  it("finds PaymentIntents by an exact metadata value with Stripe's search and its search_result shape", async () => {
    const mine = await client.createPaymentIntent({ ...visa, metadata: { idempotency_reference: 'ref-1', order: 'a' } }, key());
    await client.createPaymentIntent({ ...visa, metadata: { idempotency_reference: 'ref-10' } }, key());

    const found = await client.searchPaymentIntents(metadataSearchQuery('idempotency_reference', 'ref-1'));
    const none = await client.searchPaymentIntents(metadataSearchQuery('idempotency_reference', 'ref-2'));

    expect(found.object).to.equal('search_result');
    expect(found.data.map((pi) => pi.id)).to.deep.equal([mine.id]);
    expect(found.has_more).to.equal(false);
    expect(none.data).to.deep.equal([]);
    const raw = await get(sim, `/v1/payment_intents/search?query=${encodeURIComponent(metadataSearchQuery('order', 'a'))}`);
    expect(raw.json).to.deep.include({ object: 'search_result', url: '/v1/payment_intents/search', has_more: false, next_page: null });
  });

  it('quotes search values so a quote or backslash in them cannot change the query', async () => {
    const tricky = "it's a \\ test' AND metadata['x']:'y";
    const mine = await client.createPaymentIntent({ ...visa, metadata: { note: tricky } }, key());
    await client.createPaymentIntent({ ...visa, metadata: { x: 'y' } }, key());

    const found = await client.searchPaymentIntents(metadataSearchQuery('note', tricky));
    const both = await client.searchPaymentIntents(`${metadataSearchQuery('note', tricky)} AND ${metadataSearchQuery('x', 'y')}`);

    expect(found.data.map((pi) => pi.id)).to.deep.equal([mine.id]);
    expect(both.data).to.deep.equal([]);
  });

  it('refuses a search query outside the supported subset as an invalid request', async () => {
    const err = await client.searchPaymentIntents('status:"succeeded"').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ProviderInvalidRequestError);
  });

  it('lists the refunds of one PaymentIntent newest first, with their metadata, page by page', async () => {
    const pi = await client.createPaymentIntent(visa, key());
    const other = await client.createPaymentIntent(visa, key());
    const refunds = [];
    for (let i = 0; i < 3; i++)
      refunds.push(await client.createRefund({ paymentIntent: pi.id, amount: 100, metadata: { idempotency_reference: `r${i}` } }, key()));
    await client.createRefund({ paymentIntent: other.id, amount: 100 }, key());

    const list = await client.listRefunds(pi.id);

    expect(list.object).to.equal('list');
    expect(list.data.map((r) => r.id)).to.deep.equal(refunds.map((r) => r.id).reverse());
    expect(list.data[0]?.metadata).to.deep.equal({ idempotency_reference: 'r2' });
    const raw = await get(sim, `/v1/refunds?payment_intent=${pi.id}&limit=2`);
    const page = raw.json as { has_more: boolean; data: { id: string }[] };
    expect(page.has_more).to.equal(true);
    const next = await get(sim, `/v1/refunds?payment_intent=${pi.id}&limit=2&starting_after=${page.data[1]!.id}`);
    expect((next.json as { data: { id: string }[] }).data.map((r) => r.id)).to.deep.equal([refunds[0]!.id]);
  });

  it('answers confirm with a requires_action PaymentIntent for pm_card_authenticationRequired and a processing one for the simulator-only method, both HTTP 200', async () => {
    const action = await client.createPaymentIntent({ ...visa, paymentMethod: 'pm_card_authenticationRequired' }, key());
    const processing = await client.createPaymentIntent({ ...visa, paymentMethod: SIMULATOR_PROCESSING_METHOD }, key());

    expect(action).to.include({ status: 'requires_action', amount_received: 0, amount_capturable: 0 });
    expect(processing).to.include({ status: 'processing', amount_received: 0, amount_capturable: 0 });
  });

  it('answers refunds pending or failed for the simulator-only methods; a failed refund leaves the amount refundable', async () => {
    const pending = await client.createPaymentIntent({ ...visa, paymentMethod: SIMULATOR_REFUND_PENDING_METHOD }, key());
    const failing = await client.createPaymentIntent({ ...visa, paymentMethod: SIMULATOR_REFUND_FAILED_METHOD }, key());

    expect((await client.createRefund({ paymentIntent: pending.id, amount: 1_000 }, key())).status).to.equal('pending');
    const tooMuch = await client.createRefund({ paymentIntent: pending.id, amount: 1_000 }, key()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(tooMuch, 'a pending refund holds its amount').to.be.instanceOf(ProviderInvalidRequestError);
    expect((await client.createRefund({ paymentIntent: failing.id, amount: 1_500 }, key())).status).to.equal('failed');
    expect((await client.createRefund({ paymentIntent: failing.id, amount: 1_500 }, key())).status).to.equal('failed');
  });

  it('processes a request with a forgotten key as new, as a provider does past its idempotency window', async () => {
    const k = key();
    const first = await client.createPaymentIntent(visa, k);
    const replay = await client.createPaymentIntent(visa, k);
    expect(replay.id).to.equal(first.id);

    sim.forgetIdempotencyKeys();
    const again = await client.createPaymentIntent(visa, k);

    expect(again.id).to.not.equal(first.id);
    expect(sim.paymentIntents()).to.have.length(2);
  });

  it('forgets its keys on POST /_sim/forget_idempotency_keys', async () => {
    const k = key();
    const first = await client.createPaymentIntent(visa, k);
    const answer = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${sim.url}/_sim/forget_idempotency_keys`,
        { method: 'POST', headers: { authorization: `Bearer ${sim.secretKey}` }, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(answer).to.equal(200);
    expect((await client.createPaymentIntent(visa, k)).id).to.not.equal(first.id);
  });

  it("refuses metadata past Stripe's limits: more than 50 keys", async () => {
    const metadata = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
    const err = await client.createPaymentIntent({ ...visa, metadata }, key()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ProviderInvalidRequestError);
    expect(sim.paymentIntents()).to.have.length(0);
  });
});
