import { randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../src/db/pool.js';
import { CreateChargeRequest, PaymentServiceClient, PaymentServiceService } from '../src/gen/payments/v1/payments.js';
import { decide } from '../src/idempotency/decision.js';
import { canonicalBytes, FINGERPRINT_VERSION, fingerprintOf } from '../src/idempotency/fingerprint.js';
import { LeaseHolder } from '../src/idempotency/lease-holder.js';
import { MysqlIdempotencyStore } from '../src/idempotency/mysql-idempotency-store.js';
import { RecoveryPoint } from '../src/idempotency/record.js';
import { createLogger } from '../src/logger.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { CrashHarness, chargeRequest } from './support/crash-harness.js';
import { sharedPool } from './support/database.js';
import { callUnary, metadata, paymentClient } from './support/grpc-client.js';
import type { ServerProcess } from './support/server-process.js';

const PATH = PaymentServiceService.createCharge.path;
const log = createLogger('silent');

const AMOUNT = '4100';

function payloadOf(request: CreateChargeRequest) {
  const canonical = canonicalBytes(request, (v) => CreateChargeRequest.encode(v as CreateChargeRequest).finish());
  return { fingerprint: fingerprintOf(PATH, canonical), fingerprintVersion: FINGERPRINT_VERSION, requestBody: canonical };
}

/** The SQL comparisons only: a long lease, so anything taken over early was taken because its holder is gone. */
describe('lease holders in the store', () => {
  const holders: LeaseHolder[] = [];
  afterEach(async () => {
    await Promise.all(holders.splice(0).map((h) => h.stop()));
  });

  /** A holder that renews rarely (timeout 1 h), so a test decides when it looks gone. */
  async function holder(): Promise<LeaseHolder> {
    const h = new LeaseHolder(await sharedPool(), { timeoutSeconds: 3600, log });
    holders.push(h);
    await h.start();
    return h;
  }

  async function claimWith(store: MysqlIdempotencyStore, scope: string) {
    const claimed = await store.claim({
      scope,
      key: randomUUID(),
      method: PATH,
      payload: payloadOf(chargeRequest(scope, AMOUNT)),
      recoveryPoint: RecoveryPoint.ProviderRequested,
      ttlSeconds: 3600,
      leaseSeconds: 600,
    });
    expect(claimed.won).to.equal(true);
    return claimed.record;
  }

  it("takes over a row whose holder stopped renewing, long before its lease ends, and fences the holder's writes", async () => {
    const pool = await sharedPool();
    const [a, b] = [await holder(), await holder()];
    const storeA = new MysqlIdempotencyStore(pool, { holder: a });
    const storeB = new MysqlIdempotencyStore(pool, { holder: b });
    const scope = `mer_holder_${randomUUID().slice(0, 8)}`;
    const row = await claimWith(storeA, scope);

    // Alive: the waiter waits, and a takeover attempt matches nothing.
    const alive = (await storeB.readWaiting(scope, row.key))!;
    expect(alive.holderGone).to.equal(false);
    expect(decide(alive, { method: PATH, samePayloadAs: () => true }).kind).to.equal('wait');
    expect(await storeB.takeOver(alive, 600)).to.equal(undefined);
    expect(await storeB.findAbandoned(100, [PATH]).then((rows) => rows.some((r) => r.id === row.id))).to.equal(false);

    // A's last renewal runs out (as when it is killed or frozen).
    await pool.query('UPDATE lease_holders SET alive_until = NOW(6) - INTERVAL 1 SECOND WHERE holder_id = ?', [a.id()]);
    const gone = (await storeB.readWaiting(scope, row.key))!;
    expect(gone.holderGone).to.equal(true);
    expect(decide(gone, { method: PATH, samePayloadAs: () => true }).kind).to.equal('take_over');
    expect(await storeB.findAbandoned(100, [PATH]).then((rows) => rows.some((r) => r.id === row.id))).to.equal(true);
    const taken = await storeB.takeOver(gone, 600);
    expect(taken?.leaseVersion).to.equal(row.leaseVersion + 1);
    const [holderRows] = await pool.query<RowDataPacket[]>('SELECT lease_holder FROM idempotency_keys WHERE id = ?', [row.id]);
    expect(Buffer.from(holderRows[0]!['lease_holder'] as Buffer).equals(b.id()!)).to.equal(true);

    // A was only slow: everything it writes now is fenced out.
    const fenceA = { id: row.id, leaseVersion: row.leaseVersion };
    expect(await storeA.complete(fenceA, { code: Code.OK, message: '', body: Buffer.from('a'), trailers: [] }, [], 3600)).to.equal(undefined);
    expect(await storeA.release(fenceA)).to.equal(false);
    // B now holds it, alive: nobody else takes it over.
    expect(await storeA.takeOver((await storeA.readWaiting(scope, row.key))!, 600)).to.equal(undefined);
  });

  it('counts a holder that removed itself (stopped gracefully) as gone', async () => {
    const pool = await sharedPool();
    const a = await holder();
    const store = new MysqlIdempotencyStore(pool, { holder: a });
    const scope = `mer_holder_${randomUUID().slice(0, 8)}`;
    const row = await claimWith(store, scope);
    await a.stop();
    expect(a.id()).to.equal(null);
    const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM lease_holders WHERE holder_id = ?', [a.holderIdentity]);
    expect(Number(rows[0]!['n'])).to.equal(0);
    const read = (await new MysqlIdempotencyStore(pool).readWaiting(scope, row.key))!;
    expect(read.holderGone).to.equal(true);
    expect(await new MysqlIdempotencyStore(pool).takeOver(read, 600)).to.not.equal(undefined);
  });

  it('leaves a row that names no holder (liveness off, or an older build) to its lease alone', async () => {
    const pool = await sharedPool();
    const scope = `mer_holder_${randomUUID().slice(0, 8)}`;
    const row = await claimWith(new MysqlIdempotencyStore(pool), scope);
    const other = new MysqlIdempotencyStore(pool, { holder: await holder() });
    const read = (await other.readWaiting(scope, row.key))!;
    expect(read.holderGone).to.equal(false);
    expect(await other.takeOver(read, 600)).to.equal(undefined);
    expect(await other.findAbandoned(100, [PATH]).then((rows) => rows.some((r) => r.id === row.id))).to.equal(false);
  });

  /** The shared pool, with a switch that makes every statement fail as if the database were down. */
  async function switchablePool(): Promise<{ pool: Pool; down: (d: boolean) => void }> {
    const pool = await sharedPool();
    let isDown = false;
    const realQuery = pool.pool.query.bind(pool.pool) as (...a: unknown[]) => unknown;
    const wrapped = Object.create(pool) as Pool;
    wrapped.pool = Object.create(pool.pool) as Pool['pool'];
    (wrapped.pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
      if (!isDown) return realQuery(...args);
      (args[args.length - 1] as (err: Error) => void)(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      return undefined;
    };
    return { pool: wrapped, down: (d) => (isDown = d) };
  }

  it('records no holder before its first renewal has committed, nor once its last committed renewal is half a timeout old', async () => {
    let clock = 1_000;
    const db = await switchablePool();
    const h = new LeaseHolder(db.pool, { timeoutSeconds: 4, log, now: () => clock });
    holders.push(h);
    expect(h.id()).to.equal(null);
    await h.start();
    expect(h.id()?.equals(h.holderIdentity)).to.equal(true);
    // The database goes away: renewals fail, and the last committed one ages.
    db.down(true);
    clock += 1_999;
    expect(h.id()?.equals(h.holderIdentity)).to.equal(true);
    clock += 2;
    expect(h.id()).to.equal(null);
  });

  it('records itself only once a renewal has landed when the database was down at its start', async () => {
    const db = await switchablePool();
    db.down(true);
    const h = new LeaseHolder(db.pool, { timeoutSeconds: 1, log });
    holders.push(h);
    await h.start();
    expect(h.id()).to.equal(null);
    db.down(false);
    // The next renewal (every 200 ms) registers it.
    const until = Date.now() + 10_000;
    while (h.id() === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(h.id()?.equals(h.holderIdentity)).to.equal(true);
    const [rows] = await (await sharedPool()).query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM lease_holders WHERE holder_id = ?', [h.holderIdentity]);
    expect(Number(rows[0]!['n'])).to.equal(1);
  });
});

describe('server instances as lease holders', function () {
  this.timeout(180_000);
  // A lease far longer than any wait below: whatever resumes early did so because its holder died.
  const harness = new CrashHarness({ IDEMPOTENCY_LEASE_SECONDS: '120', IDEMPOTENCY_COMPLETER_INTERVAL_MS: '3600000' });
  before(() => harness.setUp());
  afterEach(() => {
    harness.sim.faults.clear();
    harness.sim.releaseHeld();
  });
  after(() => harness.tearDown());
  const start = (extra: Record<string, string> = {}) => harness.start(extra);
  const chargeAndCrash = (victim: ServerProcess, apiKey: string, key: string, order: string) =>
    harness.chargeAndCrash(victim, chargeRequest(order, AMOUNT), apiKey, key);

  async function retry(port: number, apiKey: string, key: string, order: string) {
    const client = paymentClient(port);
    const startedAt = Date.now();
    const result = await callUnary(
      client,
      PaymentServiceClient.prototype.createCharge,
      chargeRequest(order, AMOUNT),
      metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key }),
      { deadline: Date.now() + 60_000 },
    );
    client.close();
    return { ...result, ms: Date.now() - startedAt };
  }

  it("resumes a SIGKILLed instance's call on another instance within seconds, not the 120 s lease, with one payment", async () => {
    const { apiKey } = await new MerchantStore(await sharedPool()).create(`holder-${randomUUID()}`);
    const key = randomUUID();
    const order = `holder-kill-${key}`;
    const [victim, survivor] = await Promise.all([start(), start({ IDEMPOTENCY_WAIT_MS: '50000' })]);
    await chargeAndCrash(victim, apiKey, key, order);
    const result = await retry(survivor.port, apiKey, key, order);
    expect(result.error?.message).to.equal(undefined);
    // The default holder timeout is 5 s; anything under the lease proves the early takeover.
    expect(result.ms).to.be.below(60_000);
    const payments = harness.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order);
    expect(payments).to.have.length(1);
    expect(result.response!.providerReference).to.equal(payments[0]!.id);
  });

  it('with liveness off (IDEMPOTENCY_HOLDER_TIMEOUT_SECONDS=0) the same retry still waits for the lease', async () => {
    const { apiKey } = await new MerchantStore(await sharedPool()).create(`holder-${randomUUID()}`);
    const key = randomUUID();
    const order = `holder-off-${key}`;
    const off = { IDEMPOTENCY_HOLDER_TIMEOUT_SECONDS: '0' };
    const [victim, survivor] = await Promise.all([start(off), start({ ...off, IDEMPOTENCY_WAIT_MS: '8000' })]);
    await chargeAndCrash(victim, apiKey, key, order);
    const result = await retry(survivor.port, apiKey, key, order);
    expect(result.error?.code).to.equal(Code.ABORTED);
    expect(result.error?.details).to.match(/still in progress/);
  });

  it('never takes over a live holder: a charge held at the provider past the holder timeout keeps its row', async () => {
    const { apiKey } = await new MerchantStore(await sharedPool()).create(`holder-${randomUUID()}`);
    const key = randomUUID();
    const order = `holder-live-${key}`;
    // A 1 s holder timeout (renewed every 200 ms) and a waiter that waits 4 s: a waiter that
    // mistook the live leader for gone would take over and send a second provider request.
    const fast = { IDEMPOTENCY_HOLDER_TIMEOUT_SECONDS: '1' };
    const [leader, other] = await Promise.all([start(fast), start({ ...fast, IDEMPOTENCY_WAIT_MS: '4000' })]);
    harness.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
    const leaderClient = paymentClient(leader.port);
    const first = callUnary(
      leaderClient,
      PaymentServiceClient.prototype.createCharge,
      chargeRequest(order, AMOUNT),
      metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key }),
    );
    await harness.sim.whenHeld(1);
    const waited = await retry(other.port, apiKey, key, order);
    expect(waited.error?.code).to.equal(Code.ABORTED);
    expect(harness.sim.releaseHeld()).to.equal(1);
    const answer = await first;
    leaderClient.close();
    expect(answer.error?.message).to.equal(undefined);
    expect(harness.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
  });
});
