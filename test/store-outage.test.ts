import { randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { LocalMysql } from '../src/db/local-mysql.js';
import { PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { callUnary } from './support/grpc-client.js';
import { type PrivateDatabase, startPrivateDatabase } from './support/private-database.js';
import { startTestServer, type TestServer } from './support/test-server.js';

describe('idempotency store outage (private database killed with SIGKILL)', function () {
  this.timeout(180_000);
  let db: LocalMysql;
  let t: TestServer;
  let privateDb: PrivateDatabase;

  before(async () => {
    privateDb = await startPrivateDatabase();
    db = privateDb.db;
    t = await startTestServer({ pool: privateDb.pool });
  });
  after(async () => {
    await t?.close();
    await privateDb?.close();
  });

  it('fails closed with UNAVAILABLE and no provider call, then charges exactly once after the restart', async () => {
    const key = `outage-${randomUUID()}`;
    const order = `o-${randomUUID()}`;
    const req = {
      amount: '3100',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      customerId: '',
      description: '',
      metadata: { order_id: order },
      captureMethod: 0,
    };
    // Authenticate once while the database is up (API keys are cached briefly), so the
    // outage is met by the idempotency claim itself.
    expect((await callUnary(t.client, PaymentServiceClient.prototype.listCharges, { pageSize: 1, pageToken: '', customerId: '' }, t.md())).error).to.equal(
      undefined,
    );

    await db.kill('SIGKILL');
    const before = t.sim.stats().requests;
    const down = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, req, t.md(key));
    expect(down.error?.code).to.equal(Code.UNAVAILABLE);
    const details = decodeStatusDetails(down.error!.metadata.get('grpc-status-details-bin')[0] as Buffer);
    expect(details.errorInfo?.reason).to.equal('IDEMPOTENCY_UNAVAILABLE');
    expect(down.error?.details).to.not.match(/\bat \S+:\d+/); // no stack trace
    expect(t.sim.stats().requests).to.equal(before);

    await db.restart();
    let retry = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, req, t.md(key));
    // The pool may hand out one connection that died with the server before it notices.
    for (let i = 0; i < 5 && retry.error?.code === Code.UNAVAILABLE; i++) {
      retry = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, req, t.md(key));
    }
    expect(retry.error).to.equal(undefined);
    const again = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, req, t.md(key));
    expect(again.response?.id).to.equal(retry.response?.id);
    expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
  });

  it('still replays the outcomes an instance completed or read, and fails closed for every other key', async () => {
    const key = `outage-${randomUUID()}`;
    const order = `o-${randomUUID()}`;
    const req = {
      amount: '3200',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      customerId: '',
      description: '',
      metadata: { order_id: order },
      captureMethod: 0,
    };
    const create = PaymentServiceClient.prototype.createCharge;
    let first = await callUnary(t.client, create, req, t.md(key));
    // The previous test restarted the server under the pool: a dead pooled connection may answer first.
    for (let i = 0; i < 5 && first.error?.code === Code.UNAVAILABLE; i++) first = await callUnary(t.client, create, req, t.md(key));
    expect(first.error).to.equal(undefined);
    // Two keys completed by another instance: this one reads the first (a retry) and never the second.
    const [read, unread] = [`outage-${randomUUID()}`, `outage-${randomUUID()}`];
    const [readReq, unreadReq] = [0, 1].map(() => ({ ...req, metadata: { order_id: `o-${randomUUID()}` } }));
    const other = await startTestServer({ pool: privateDb.pool, sim: t.sim });
    try {
      expect((await callUnary(other.client, create, readReq!, t.md(read))).error).to.equal(undefined);
      expect((await callUnary(other.client, create, unreadReq!, t.md(unread))).error).to.equal(undefined);
    } finally {
      await other.close();
    }
    const readBefore = await callUnary(t.client, create, readReq!, t.md(read));
    expect(readBefore.headers.get('idempotent-replayed')).to.deep.equal(['true']);

    await db.kill('SIGKILL');
    try {
      const during = await callUnary(t.client, create, req, t.md(key));
      expect(during.error).to.equal(undefined);
      expect(during.response?.id).to.equal(first.response?.id);
      expect(during.headers.get('idempotent-replayed')).to.deep.equal(['true']);
      const readDuring = await callUnary(t.client, create, readReq!, t.md(read));
      expect(readDuring.error).to.equal(undefined);
      expect(readDuring.response?.id).to.equal(readBefore.response?.id);
      // Completed elsewhere and never read here, and a new key: both need the database.
      expect((await callUnary(t.client, create, unreadReq!, t.md(unread))).error?.code).to.equal(Code.UNAVAILABLE);
      expect((await callUnary(t.client, create, { ...req, metadata: { order_id: `o-${randomUUID()}` } }, t.md(`outage-${randomUUID()}`))).error?.code).to.equal(
        Code.UNAVAILABLE,
      );
    } finally {
      await db.restart();
    }
    expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
  });
});
