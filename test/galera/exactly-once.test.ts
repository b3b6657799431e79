import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  type Cluster,
  chargeRequest,
  chargeRows,
  galeraCluster,
  type Instances,
  inBatches,
  providerPaymentsByOrder,
  type RawAnswer,
  RawCallers,
  RETRYABLE,
  requireGalera,
  startInstances,
} from './support/galera-fixture.js';

/** GALERA_FULL=1: the acceptance profile (3,000 keys); by default a CI profile of a few hundred. */
const FULL = process.env['GALERA_FULL'] === '1';
const KEYS = FULL ? 3_000 : 300;
const HEDGED_PAIRS = FULL ? 2_000 : 400;
const SAME_KEY_CALLS = 500;
/** Keys in flight at once (each with 3 copies): enough to keep all three nodes certifying conflicts. */
const KEYS_IN_FLIGHT = 32;
/**
 * Short, so a claim row left in progress by a lost answer is taken over within seconds, not
 * the default 30 s; still far above a simulated provider call (~1 ms).
 */
const LEASE_SECONDS = 3;
/** A caller's deadline: duplicates wait for their leader within it. */
const CALL_DEADLINE_MS = 30_000;
/** Bound on a client's retries of one payment (each ends by its deadline). */
const MAX_ATTEMPTS = 20;

describe('exactly-once on a 3-node Galera cluster, one service instance per node', function () {
  this.timeout(600_000);
  let c: Cluster;
  let inst: Instances;
  let callers: RawCallers;

  before(async function () {
    requireGalera(this);
    this.timeout(180_000);
    c = await galeraCluster();
    inst = await startInstances(c, { leaseSeconds: LEASE_SECONDS, inFlightWaitMs: CALL_DEADLINE_MS });
    callers = new RawCallers(inst.servers);
  });
  after(async () => {
    callers?.close();
    await inst?.close();
  });

  /**
   * Sends the payment until it is answered OK, moving to the next instance after each
   * retryable failure; the last answer when it never is (counted, not thrown, so a run reports
   * every kind of failure at once).
   */
  async function settle(key: string, request: Uint8Array, firstInstance: number): Promise<RawAnswer> {
    let last: RawAnswer = {};
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      last = await callers.create(firstInstance + attempt, request, inst.md(key), CALL_DEADLINE_MS);
      if (last.bytes || !last.error || !RETRYABLE.has(last.error.code)) break;
    }
    return last;
  }

  /** Payments charged at the provider more than once, not at all, and not answered OK. */
  function tally(orders: readonly string[], unsettled: readonly string[]): { duplicated: number; lost: number; unsettled: number } {
    const payments = providerPaymentsByOrder(inst.sim);
    return {
      duplicated: orders.filter((o) => (payments[o] ?? 0) > 1).length,
      lost: orders.filter((o) => (payments[o] ?? 0) === 0).length,
      unsettled: unsettled.length,
    };
  }

  it(`answers ${SAME_KEY_CALLS} concurrent same-key CreateCharge calls over the three instances with one charge, one provider payment and the same bytes`, async () => {
    const key = `same-${randomUUID()}`;
    const request = chargeRequest(key);
    const answers = await Promise.all(Array.from({ length: SAME_KEY_CALLS }, (_, i) => callers.create(i, request, inst.md(key), CALL_DEADLINE_MS)));
    const failures = answers.filter((a) => !a.bytes).map((a) => `${a.error?.code} ${a.error?.details}`);
    expect(failures, 'every call is answered OK').to.deep.equal([]);
    expect(new Set(answers.map((a) => a.bytes!.toString('hex'))).size, 'distinct answers').to.equal(1);
    expect(providerPaymentsByOrder(inst.sim)[key], 'provider payments').to.equal(1);
    for (const pool of c.pools) expect(await chargeRows(pool, inst.merchantId), 'charge rows on every node').to.equal(1);
  });

  it(`ends ${KEYS} payments, each sent as 3 concurrent copies (one per instance), with exactly one charge and one provider payment each: 0 duplicates, 0 lost`, async () => {
    const before = await chargeRows(c.pools[0]!, inst.merchantId);
    const orders = Array.from({ length: KEYS }, () => `copies-${randomUUID()}`);
    const chargeIds = new Map<string, Set<string | undefined>>();
    const unsettled: string[] = [];
    await inBatches(orders, KEYS_IN_FLIGHT, async (order, i) => {
      const request = chargeRequest(order);
      const answers = await Promise.all([0, 1, 2].map((copy) => settle(order, request, i + copy)));
      for (const a of answers) if (!a.bytes) unsettled.push(`${order}: ${a.error?.code} ${a.error?.details}`);
      chargeIds.set(order, new Set(answers.map((a) => a.bytes?.toString('hex'))));
    });
    expect(tally(orders, unsettled), unsettled.slice(0, 3).join('; ')).to.deep.equal({ duplicated: 0, lost: 0, unsettled: 0 });
    expect(
      orders.filter((o) => chargeIds.get(o)?.size !== 1),
      'payments whose three copies got different answers',
    ).to.deep.equal([]);
    for (const pool of c.pools) expect((await chargeRows(pool, inst.merchantId)) - before, 'charge rows on every node').to.equal(KEYS);
  });

  it(`never charges twice for ${HEDGED_PAIRS} hedged pairs: a copy with a 1.5-4 ms deadline on one instance, another on the next instance 0-4 ms later`, async () => {
    const before = await chargeRows(c.pools[0]!, inst.merchantId);
    const orders = Array.from({ length: HEDGED_PAIRS }, () => `hedged-${randomUUID()}`);
    const unsettled: string[] = [];
    await inBatches(orders, KEYS_IN_FLIGHT, async (order, i) => {
      const request = chargeRequest(order);
      // The hedge: the first copy gives up almost at once (its instance keeps going or
      // releases the claim), the second races it from another node.
      const first = callers.create(i, request, inst.md(order), 1.5 + Math.random() * 2.5);
      await delay(Math.random() * 4);
      const settled = await settle(order, request, i + 1);
      if (!settled.bytes) unsettled.push(`${order}: ${settled.error?.code} ${settled.error?.details}`);
      const early = await first;
      if (early.error && !RETRYABLE.has(early.error.code) && early.error.code !== grpc.status.CANCELLED)
        unsettled.push(`${order} (hedge): ${early.error.code} ${early.error.details}`);
    });
    expect(tally(orders, unsettled), unsettled.slice(0, 3).join('; ')).to.deep.equal({ duplicated: 0, lost: 0, unsettled: 0 });
    expect((await chargeRows(c.pools[0]!, inst.merchantId)) - before).to.equal(HEDGED_PAIRS);
  });
});
