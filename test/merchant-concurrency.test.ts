import { randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import type { CreateChargeRequest } from '../src/gen/payments/v1/payments.js';
import { MERCHANT_CONCURRENCY_LIMIT_REASON } from '../src/grpc/merchant-concurrency-interceptor.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { STATUS_DETAILS_KEY } from '../src/grpc/to-status.js';
import { type AbuseServer, startAbuseServer } from './support/abuse-server.js';
import { callUnary } from './support/grpc-client.js';

const LIMIT = 3;
const EXTRA = 2;
const CHARGE: CreateChargeRequest = {
  amount: '1200',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: '',
  description: '',
  metadata: {},
  captureMethod: 0,
};

describe('per-merchant limit on calls in flight', function () {
  this.timeout(60_000);
  let t: AbuseServer;

  before(async () => {
    t = await startAbuseServer({ maxInFlightPerMerchant: LIMIT });
  });
  after(async () => {
    t.sim.releaseHeld();
    await t.close();
  });

  async function rowsFor(merchantId: string, keys: string[]): Promise<number> {
    const [rows] = await t.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key IN (?)', [
      merchantId,
      keys,
    ]);
    return Number(rows[0]?.['n']);
  }

  it('refuses the calls past the limit with RESOURCE_EXHAUSTED and no claim, leaves another merchant unaffected, and frees the places when calls end', async () => {
    // Exactly LIMIT provider requests are held: the calls that pass the limit reach the provider and wait there.
    t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' }, times: LIMIT });
    const keys = Array.from({ length: LIMIT + EXTRA }, () => randomUUID());
    const calls = keys.map((key) => callUnary(t.client, t.client.createCharge, CHARGE, t.md(t.apiKey, key)).then((r) => ({ key, r })));

    await t.sim.whenHeld(LIMIT);
    const refusedResults: Array<{ key: string; r: Awaited<ReturnType<typeof callUnary>> }> = [];
    // Wait only for the refused calls: they are the ones that can end while LIMIT calls are held.
    await new Promise<void>((resolve) => {
      let ended = 0;
      for (const c of calls) {
        void c.then((x) => {
          if (x.r.error?.code === Code.RESOURCE_EXHAUSTED) refusedResults.push(x);
          ended++;
          if (refusedResults.length === EXTRA || ended === calls.length) resolve();
        });
      }
    });
    expect(refusedResults).to.have.length(EXTRA);
    expect(t.sim.stats().held, 'the admitted calls are still in flight').to.equal(LIMIT);
    for (const { r } of refusedResults) {
      const raw = r.error?.metadata.get(STATUS_DETAILS_KEY)[0];
      const details = raw instanceof Buffer ? decodeStatusDetails(raw) : undefined;
      expect(details?.errorInfo?.reason).to.equal(MERCHANT_CONCURRENCY_LIMIT_REASON);
      expect(details?.retryInfo?.retryDelayMs).to.be.greaterThan(0);
    }
    const refusedKeys = refusedResults.map((x) => x.key);
    expect(await rowsFor(t.merchantId, refusedKeys), 'a refused call leaves no idempotency row').to.equal(0);

    // Another merchant is not affected by A's full quota (its charge is not held: the hold fault is used up).
    const other = await t.newMerchant();
    const b = await callUnary(t.client, t.client.createCharge, CHARGE, t.md(other.apiKey, randomUUID()));
    expect(b.error).to.equal(undefined);
    expect(b.response?.status).to.not.equal(undefined);

    t.sim.releaseHeld();
    const all = await Promise.all(calls);
    const admitted = all.filter((x) => !refusedKeys.includes(x.key));
    expect(admitted.map((x) => x.r.error?.code)).to.deep.equal(Array(LIMIT).fill(undefined));

    // Every place was given back: a refused key now runs, and LIMIT fresh calls fit at once again.
    const retry = await callUnary(t.client, t.client.createCharge, CHARGE, t.md(t.apiKey, refusedKeys[0]));
    expect(retry.error).to.equal(undefined);
    const again = await Promise.all(Array.from({ length: LIMIT }, () => callUnary(t.client, t.client.createCharge, CHARGE, t.md(t.apiKey, randomUUID()))));
    expect(again.map((x) => x.error?.code)).to.deep.equal(Array(LIMIT).fill(undefined));
  });

  it('gives the place back when a call ends by its deadline or a cancel', async () => {
    t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' }, times: LIMIT });
    const calls = Array.from({ length: LIMIT }, () =>
      callUnary(t.client, t.client.createCharge, CHARGE, t.md(t.apiKey, randomUUID()), { deadline: Date.now() + 300 }),
    );
    await t.sim.whenHeld(LIMIT);
    const timedOut = await Promise.all(calls);
    expect(timedOut.map((x) => x.error?.code)).to.deep.equal(Array(LIMIT).fill(Code.DEADLINE_EXCEEDED));
    t.sim.releaseHeld();
    // Unheld now; the leaders of the timed-out calls finish in the background, and their
    // places were given back when their clients left.
    const next = await Promise.all(Array.from({ length: LIMIT }, () => callUnary(t.client, t.client.createCharge, CHARGE, t.md(t.apiKey, randomUUID()))));
    expect(next.map((x) => x.error?.code)).to.deep.equal(Array(LIMIT).fill(undefined));
  });
});
