import { randomUUID } from 'node:crypto';
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

/** GALERA_FULL=1: as many payments as the runs (900); by default a CI profile. */
const PAYMENTS = process.env['GALERA_FULL'] === '1' ? 900 : 300;
/** Payments in flight at once, each as two concurrent copies on two instances. */
const PAYMENTS_IN_FLIGHT = 24;
/** The node (and its instance) that is killed; the others keep the cluster's quorum (2 of 3). */
const VICTIM = 2;
/** A claim left in progress by the dead node's instance is taken over after this. */
const LEASE_SECONDS = 3;
/**
 * A caller's deadline. It covers the cluster's pause while it evicts the dead node (Galera's
 * evs.suspect_timeout, 5 s) and a lease (LEASE_SECONDS) before a takeover.
 */
const CALL_DEADLINE_MS = 30_000;
/** A client's retries of one payment; failures against the dead instance are immediate. */
const MAX_ATTEMPTS = 40;
/** The rejoined node's instance serves again once its pool reconnects and its readiness probe passes. */
const SERVE_AGAIN_DEADLINE_MS = 60_000;

describe('a Galera node SIGKILLed mid-run', function () {
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
  after(async function () {
    this.timeout(180_000);
    callers?.close();
    await inst?.close();
    // Leave the shared cluster whole for the next file, even if the test failed halfway.
    const victim = c?.cluster.nodes[VICTIM];
    if (victim && victim.pid === undefined) await victim.restart();
  });

  async function settle(key: string, request: Uint8Array, firstInstance: number): Promise<RawAnswer> {
    let last: RawAnswer = {};
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      last = await callers.create(firstInstance + attempt, request, inst.md(key), CALL_DEADLINE_MS);
      if (last.bytes || !last.error || !RETRYABLE.has(last.error.code)) break;
    }
    return last;
  }

  it(`fails closed on the dead node's instance, ends all ${PAYMENTS} payments retried on the others with exactly one charge each, and serves again once the node rejoins`, async () => {
    const orders = Array.from({ length: PAYMENTS }, () => `kill-${randomUUID()}`);
    const unsettled: string[] = [];
    let settled = 0;
    let killed: Promise<grpc.status | undefined> | undefined;
    const victim = c.cluster.nodes[VICTIM]!;

    await inBatches(orders, PAYMENTS_IN_FLIGHT, async (order, i) => {
      const request = chargeRequest(order);
      const answers = await Promise.all([settle(order, request, i), settle(order, request, i + 1)]);
      for (const a of answers) if (!a.bytes) unsettled.push(`${order}: ${a.error?.code} ${a.error?.details}`);
      // A third of the way through, with calls in flight on every instance: kill the node,
      // then ask its instance for a new payment.
      if (++settled === Math.floor(PAYMENTS / 3)) {
        killed = victim.kill().then(async () => {
          const probe = await callers.create(VICTIM, chargeRequest(`probe-${randomUUID()}`), inst.md(`probe-${randomUUID()}`), CALL_DEADLINE_MS);
          return probe.error?.code;
        });
      }
    });
    expect(await killed, "the dead node's instance answers").to.equal(grpc.status.UNAVAILABLE);

    const payments = providerPaymentsByOrder(inst.sim);
    const tally = {
      duplicated: orders.filter((o) => (payments[o] ?? 0) > 1).length,
      lost: orders.filter((o) => (payments[o] ?? 0) === 0).length,
      unsettled: unsettled.length,
    };
    expect(tally, unsettled.slice(0, 3).join('; ')).to.deep.equal({ duplicated: 0, lost: 0, unsettled: 0 });
    const survivors = c.pools.filter((_, i) => i !== VICTIM);
    for (const pool of survivors) expect(await chargeRows(pool, inst.merchantId), 'charge rows on the surviving nodes').to.equal(PAYMENTS);

    // The node rejoins (IST from a survivor) and its instance takes new payments again.
    await victim.restart();
    const order = `rejoined-${randomUUID()}`;
    const deadline = Date.now() + SERVE_AGAIN_DEADLINE_MS;
    let answer: RawAnswer = {};
    while (Date.now() < deadline) {
      answer = await callers.create(VICTIM, chargeRequest(order), inst.md(order), CALL_DEADLINE_MS);
      if (answer.bytes || !answer.error || !RETRYABLE.has(answer.error.code)) break;
      // The pool reconnects on its next use; the readiness probe runs on its own schedule.
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(answer.error?.details, "the rejoined node's instance answers OK").to.equal(undefined);
    expect(providerPaymentsByOrder(inst.sim)[order]).to.equal(1);
    for (const pool of c.pools) expect(await chargeRows(pool, inst.merchantId), 'charge rows on every node, the rejoined one too').to.equal(PAYMENTS + 1);
  });
});
