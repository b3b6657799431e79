import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import type { LocalMysql } from '../src/db/local-mysql.js';
import type { Pool } from '../src/db/pool.js';
import { type CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { FINGERPRINT_VERSION } from '../src/idempotency/fingerprint.js';
import { MysqlIdempotencyStore } from '../src/idempotency/mysql-idempotency-store.js';
import { Reaper } from '../src/idempotency/reaper.js';
import { RecoveryPoint } from '../src/idempotency/record.js';
import { createLogger } from '../src/logger.js';
import { ServerMetrics } from '../src/metrics.js';
import { sharedPool } from './support/database.js';
import { callUnary, type UnaryResult } from './support/grpc-client.js';
import { type PrivateDatabase, startPrivateDatabase } from './support/private-database.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const create = PaymentServiceClient.prototype.createCharge;

function chargeRequest(order: string): CreateChargeRequest {
  return { amount: '1999', currency: 'usd', paymentMethod: 'pm_card_visa', customerId: '', description: '', metadata: { order_id: order }, captureMethod: 0 };
}

function reason(res: UnaryResult<unknown>): string | undefined {
  const bin = res.error?.metadata.get('grpc-status-details-bin')[0];
  return bin instanceof Buffer ? decodeStatusDetails(bin).errorInfo?.reason : undefined;
}

async function keyRow(pool: Pool, merchantId: string, key: string): Promise<RowDataPacket | undefined> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT * FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?', [merchantId, key]);
  return rows[0];
}

async function chargeCount(pool: Pool, merchantId: string): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM charges WHERE merchant_id = ?', [merchantId]);
  return Number(rows[0]?.['n']);
}

describe('failure semantics', function () {
  this.timeout(120_000);

  describe('provider faults', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ providerTimeoutMs: 500 });
    });
    after(async () => {
      await t.close();
    });
    const payments = (order: string): number => t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order).length;

    it('returns the original charge on retry when the provider charged but dropped the connection', async () => {
      const key = randomUUID();
      const order = `drop-${key}`;
      t.sim.faults.add({ kind: 'chargeThenDrop', match: { pathPrefix: '/v1/payment_intents' } });
      const first = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      expect(first.error?.code).to.equal(Code.UNAVAILABLE);
      expect(first.error?.details).to.match(/retry with the same idempotency key/);
      expect(payments(order)).to.equal(1);
      const row = await keyRow(t.pool, t.merchantId, key);
      expect(row?.['state']).to.equal('in_progress');
      expect(row?.['recovery_point']).to.equal(RecoveryPoint.ProviderRequested);

      const retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      expect(retry.error).to.equal(undefined);
      expect(retry.response!.providerReference).to.equal(t.sim.paymentIntents().find((pi) => pi.metadata['order_id'] === order)!.id);
      expect(payments(order)).to.equal(1);
      expect((await keyRow(t.pool, t.merchantId, key))?.['state']).to.equal('completed');
      const replay = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      expect(replay.response).to.deep.equal(retry.response);
    });

    it('charges once and records once when the provider times out first and succeeds later', async () => {
      const key = randomUUID();
      const order = `timeout-${key}`;
      t.sim.faults.add({ kind: 'hang', match: { pathPrefix: '/v1/payment_intents' } });
      const first = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      expect(first.error?.code).to.equal(Code.UNAVAILABLE);
      expect(reason(first)).to.equal('PROVIDER_UNAVAILABLE');
      const retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      expect(retry.error).to.equal(undefined);
      expect(payments(order)).to.equal(1);
      const [rows] = await t.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM charges WHERE provider_reference = ?', [retry.response!.providerReference]);
      expect(Number(rows[0]?.['n'])).to.equal(1);
    });

    it('releases the claim when the provider refuses the connection, so the retry runs as new and charges once', async () => {
      const key = randomUUID();
      const order = `refused-${key}`;
      await t.sim.pause();
      let first: UnaryResult<unknown>;
      try {
        first = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      } finally {
        await t.sim.resume();
      }
      expect(first.error?.code).to.equal(Code.UNAVAILABLE);
      expect(first.error?.details).to.match(/nothing was charged/);
      expect(await keyRow(t.pool, t.merchantId, key)).to.equal(undefined);
      const retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      expect(retry.error).to.equal(undefined);
      expect(retry.headers.get('idempotent-replayed')).to.deep.equal([]);
      expect(payments(order)).to.equal(1);
    });
    it('refunds once when the provider refunded but dropped the connection, and the retry returns that refund', async () => {
      const created = await callUnary(t.client, create, chargeRequest(`refund-${randomUUID()}`), t.md(randomUUID()));
      const chargeId = created.response!.id;
      const key = randomUUID();
      const refundsBefore = t.sim.refunds().length;
      t.sim.faults.add({ kind: 'chargeThenDrop', match: { pathPrefix: '/v1/refunds' } });
      const refund = { chargeId, amount: '500', reason: 0 };
      const first = await callUnary(t.client, PaymentServiceClient.prototype.refundCharge, refund, t.md(key));
      expect(first.error?.code).to.equal(Code.UNAVAILABLE);
      expect(t.sim.refunds().length).to.equal(refundsBefore + 1);
      const retry = await callUnary(t.client, PaymentServiceClient.prototype.refundCharge, refund, t.md(key));
      expect(retry.error).to.equal(undefined);
      expect(retry.response!.providerReference).to.equal(t.sim.refunds().at(-1)!.id);
      expect(t.sim.refunds().length).to.equal(refundsBefore + 1);
      expect(retry.response!.charge!.amountRefunded).to.equal('500');
      const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId }, t.md());
      expect(got.response!.amountRefunded).to.equal('500');
    });
  });

  describe('fencing', () => {
    // Both claim statements: INSERT ... RETURNING (MariaDB) and INSERT + read-back SELECT (MySQL 8).
    for (const insertReturning of [true, false]) {
      it(`never lets a zombie leader overwrite the response or write the rows of the attempt that took over (claim ${insertReturning ? 'with RETURNING' : 'read back'})`, async () => {
        const pool = await sharedPool();
        const store = new MysqlIdempotencyStore(pool, { insertReturning });
        const scope = `mer_fence_${randomUUID().slice(0, 8)}`;
        // A zero-second lease is already expired when written: the takeover below needs no waiting.
        const claimed = await store.claim({
          scope,
          key: 'k',
          method: '/m',
          payload: { fingerprint: Buffer.alloc(32, 1), fingerprintVersion: FINGERPRINT_VERSION, requestBody: Buffer.alloc(0) },
          recoveryPoint: RecoveryPoint.Started,
          ttlSeconds: 60,
          leaseSeconds: 0,
        });
        expect(claimed.won).to.equal(true);
        const zombie = { id: claimed.record.id, leaseVersion: claimed.record.leaseVersion };
        const taken = await store.takeOver(claimed.record, 30);
        expect(taken?.leaseVersion).to.equal(zombie.leaseVersion + 1);
        const successor = { id: taken!.id, leaseVersion: taken!.leaseVersion };
        const marker = (tag: string) => (guard: string, values: unknown[]) => ({
          sql: `INSERT INTO merchants (id, name) SELECT ?, ? FROM DUAL WHERE ${guard}`,
          values: [`${scope}_${tag}`, tag, ...values],
        });

        expect(await store.advance(zombie, RecoveryPoint.ChargeRecorded, 30, [marker('zadv')])).to.equal(undefined);
        expect(await store.complete(zombie, { code: 0, message: '', body: Buffer.from('zombie'), trailers: [] }, [marker('zombie')], 86_400)).to.equal(
          undefined,
        );
        expect(await store.release(zombie)).to.equal(false);
        expect(await store.abandon(zombie)).to.equal(false);
        expect(
          (await store.complete(successor, { code: 0, message: '', body: Buffer.from('successor'), trailers: [] }, [marker('successor')], 86_400))?.expiresAt,
        ).to.be.instanceOf(Date);
        // The zombie wakes up again after the successor finished: still nothing.
        expect(await store.complete(zombie, { code: 0, message: '', body: Buffer.from('zombie'), trailers: [] }, [marker('zombie2')], 86_400)).to.equal(
          undefined,
        );

        const record = await store.read(scope, 'k');
        expect(record?.response?.body?.toString()).to.equal('successor');
        const [rows] = await pool.query<RowDataPacket[]>('SELECT name FROM merchants WHERE id LIKE ? ORDER BY name', [`${scope}_%`]);
        expect(rows.map((r) => r['name'])).to.deep.equal(['successor']);
        await pool.query('DELETE FROM merchants WHERE id LIKE ?', [`${scope}_%`]);
      });
    }
  });

  describe('database killed mid-request', () => {
    let privateDb: PrivateDatabase;
    let db: LocalMysql;
    let pool: Pool;
    let t: TestServer;
    before(async () => {
      privateDb = await startPrivateDatabase();
      ({ db, pool } = privateDb);
      t = await startTestServer({ pool, leaseSeconds: 1 });
    });
    after(async () => {
      await t?.close();
      await privateDb?.close();
    });

    it('loses no acknowledged charge and duplicates none: the client sees UNAVAILABLE and its retries succeed', async () => {
      const key = randomUUID();
      const order = `midkill-${key}`;
      t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
      const pending = callUnary(t.client, create, chargeRequest(order), t.md(key));
      await t.sim.whenHeld(1);
      await db.kill('SIGKILL');
      t.sim.releaseHeld();
      const first = await pending;
      expect(first.error?.code).to.equal(Code.UNAVAILABLE);
      await db.restart();

      // Retry as a client would: with backoff, until the row's lease (1 s) has expired and a retry resumes it.
      let retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      for (let attempt = 0; attempt < 30 && retry.error; attempt++) {
        expect([Code.UNAVAILABLE, Code.ABORTED]).to.include(retry.error.code);
        await new Promise((r) => setTimeout(r, 200));
        retry = await callUnary(t.client, create, chargeRequest(order), t.md(key));
      }
      expect(retry.error).to.equal(undefined);
      expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
      expect(await chargeCount(pool, t.merchantId)).to.equal(1);
    });
  });

  describe('retention', () => {
    let t: TestServer;
    before(async () => {
      // Expiry is simulated by moving expires_at in the database, which an instance's memory of
      // completed outcomes does not watch (it trusts the expiry it read, for at most 60 s; see
      // test/replay-from-memory.test.ts for expiry with it on).
      t = await startTestServer({ replayCacheEntries: 0 });
    });
    after(async () => {
      await t.close();
    });

    it('reaps only completed rows past their expiry, never an in-progress one', async () => {
      const store = new MysqlIdempotencyStore(t.pool);
      const done = randomUUID();
      const live = randomUUID();
      const fresh = randomUUID();
      expect((await callUnary(t.client, create, chargeRequest(done), t.md(done))).error).to.equal(undefined);
      expect((await callUnary(t.client, create, chargeRequest(fresh), t.md(fresh))).error).to.equal(undefined);
      await store.claim({
        scope: t.merchantId,
        key: live,
        method: '/m',
        payload: { fingerprint: Buffer.alloc(32), fingerprintVersion: 1, requestBody: Buffer.alloc(0) },
        recoveryPoint: RecoveryPoint.Started,
        ttlSeconds: 60,
        leaseSeconds: 60,
      });
      await t.pool.query('UPDATE idempotency_keys SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE merchant_id = ? AND idempotency_key IN (?, ?)', [
        t.merchantId,
        done,
        live,
      ]);
      const reaper = new Reaper({ store, batchSize: 1, intervalMs: 60_000, log: createLogger('silent') });
      expect(await reaper.runOnce()).to.be.greaterThanOrEqual(1);
      expect(await keyRow(t.pool, t.merchantId, done)).to.equal(undefined);
      expect((await keyRow(t.pool, t.merchantId, live))?.['state']).to.equal('in_progress');
      expect((await keyRow(t.pool, t.merchantId, fresh))?.['state']).to.equal('completed');
    });

    it('starts a new charge for a key reused after its expiry', async () => {
      const key = randomUUID();
      const first = await callUnary(t.client, create, chargeRequest(key), t.md(key));
      await t.pool.query('UPDATE idempotency_keys SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE merchant_id = ? AND idempotency_key = ?', [
        t.merchantId,
        key,
      ]);
      const again = await callUnary(t.client, create, chargeRequest(key), t.md(key));
      expect(again.error).to.equal(undefined);
      expect(again.headers.get('idempotent-replayed')).to.deep.equal([]);
      expect(again.response!.id).to.not.equal(first.response!.id);
      expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === key)).to.have.length(2);
    });
  });

  describe('metrics', () => {
    it('serves Prometheus counters for idempotency outcomes and RPC latency by method and code', async () => {
      const metrics = new ServerMetrics();
      const t = await startTestServer({ metrics });
      const server = await metrics.listen('127.0.0.1:0');
      try {
        const key = randomUUID();
        await callUnary(t.client, create, chargeRequest(key), t.md(key));
        await callUnary(t.client, create, chargeRequest(key), t.md(key));
        await callUnary(t.client, create, { ...chargeRequest(key), amount: '1' }, t.md(key));
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        const text = await new Promise<string>((resolve, reject) =>
          http
            .get(`http://127.0.0.1:${port}/metrics`, (res) => {
              let body = '';
              res.on('data', (c: Buffer) => (body += c.toString()));
              res.on('end', () => resolve(body));
            })
            .on('error', reject),
        );
        expect(text).to.match(/payments_idempotency_events_total\{event="claimed"\} 1/);
        expect(text).to.match(/payments_idempotency_events_total\{event="replayed"\} 1/);
        expect(text).to.match(/payments_idempotency_events_total\{event="mismatched"\} 1/);
        expect(text).to.match(/payments_grpc_server_handling_seconds_count\{method="\/payments.v1.PaymentService\/CreateCharge",code="OK"\} 2/);
        expect(text).to.match(
          /payments_grpc_server_handling_seconds_count\{method="\/payments.v1.PaymentService\/CreateCharge",code="FAILED_PRECONDITION"\} 1/,
        );
      } finally {
        server.close();
        await t.close();
      }
    });
  });
});
