import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { createPool } from '../../src/db/pool.js';
import { Charge, PaymentServiceClient } from '../../src/gen/payments/v1/payments.js';
import { sharedDatabaseUrl } from '../support/database.js';
import { callUnary, paymentClient } from '../support/grpc-client.js';
import { type Cluster, chargeRequest, galeraCluster, type Instances, RawCallers, requireGalera, startInstances } from './support/galera-fixture.js';

/** A few hundred: without causal reads about 2 % of these answered NOT_FOUND. */
const ROUNDS = 300;
const CALL_DEADLINE_MS = 30_000;

describe('causal reads on a Galera cluster', function () {
  this.timeout(300_000);
  let c: Cluster;
  let inst: Instances;
  let callers: RawCallers;
  let readers: PaymentServiceClient[];

  before(async function () {
    requireGalera(this);
    this.timeout(180_000);
    c = await galeraCluster();
    inst = await startInstances(c);
    callers = new RawCallers(inst.servers);
    readers = inst.servers.map((s) => paymentClient(s.port));
  });
  after(async () => {
    for (const r of readers ?? []) r.close();
    callers?.close();
    await inst?.close();
  });

  it('sets wsrep_sync_wait on every pooled session of a cluster node', async () => {
    for (const pool of c.pools) {
      const [rows] = await pool.query<RowDataPacket[]>('SELECT @@session.wsrep_sync_wait AS w, @@time_zone AS tz');
      expect([Number(rows[0]?.['w']), rows[0]?.['tz']]).to.deep.equal([1, '+00:00']);
    }
  });

  it(`finds a charge on another instance right after an OK, ${ROUNDS} times in a row`, async () => {
    const answers: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const order = `causal-${randomUUID()}`;
      const created = await callers.create(i, chargeRequest(order), inst.md(order), CALL_DEADLINE_MS);
      expect(created.error?.details).to.equal(undefined);
      const charge = Charge.decode(created.bytes!);
      const read = await callUnary(readers[(i + 1) % readers.length]!, PaymentServiceClient.prototype.getCharge, { chargeId: charge.id }, inst.readMd());
      answers.push(read.error ? `code ${read.error.code}` : read.response?.id === charge.id ? 'found' : 'other');
    }
    expect(answers.filter((a) => a !== 'found')).to.deep.equal([]);
  });
});

describe('the pool on a server that is not a Galera node', () => {
  it('leaves wsrep_sync_wait at the server default and still sets the session time zone', async () => {
    const pool = createPool(sharedDatabaseUrl(), 1);
    try {
      const [rows] = await pool.query<RowDataPacket[]>(
        "SELECT @@time_zone AS tz, @@tx_isolation AS iso, (SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME = 'WSREP_SYNC_WAIT') AS w, (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'WSREP_SYNC_WAIT') AS g",
      );
      const row = rows[0]!;
      expect([row['tz'], row['iso']]).to.deep.equal(['+00:00', 'READ-COMMITTED']);
      // A MariaDB built without wsrep has no such variable; either way the session keeps the server's value.
      expect(row['w']).to.equal(row['g']);
    } finally {
      await pool.end();
    }
  });
});
