import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import { expect } from 'chai';
import { sharedPool } from '../../test/support/database.js';
import { safeError } from '../logger.js';
import { createPool, type Pool } from './pool.js';
import { isStoreUnavailable, StoreFailure, storeFailureOf } from './store-unavailable.js';

/** What a promise rejected with (the test fails if it resolved). */
async function failureOf(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (err) {
    return err;
  }
  throw new Error('expected the statement to fail');
}

/** A port on 127.0.0.1 where nothing listens (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Every error here is a real one from mysql2 and MariaDB: the classification must match what the driver raises. */
describe('storeFailureOf (classifying real driver errors)', function () {
  this.timeout(30_000);
  let pool: Pool;
  const table = `store_failure_probe_${randomUUID().replace(/-/g, '')}`;

  before(async () => {
    pool = await sharedPool();
    await pool.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, code VARCHAR(4) NOT NULL)`);
    await pool.query(`INSERT INTO ${table} (id, code) VALUES (1, 'a')`);
  });
  after(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
  });

  it('calls a refused connection unreachable', async () => {
    const down = createPool(`mysql://root@127.0.0.1:${await closedPort()}/payments`, 1);
    try {
      const err = await failureOf(down.query('SELECT 1'));
      expect((err as { code?: string }).code).to.equal('ECONNREFUSED');
      expect(storeFailureOf(err)).to.equal(StoreFailure.Unreachable);
      // The same error wrapped by a layer above the driver.
      expect(storeFailureOf(new Error('could not load the charge', { cause: err }))).to.equal(StoreFailure.Unreachable);
    } finally {
      await down.end();
    }
  });

  it('calls a connection the server killed, and a command on a dead connection, unreachable', async () => {
    const victim = await pool.getConnection();
    const [[{ id }]] = (await victim.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    await pool.query('KILL ?', [id]);
    const lost = await failureOf(victim.query('SELECT 1'));
    expect(storeFailureOf(lost), JSON.stringify(safeError(lost))).to.equal(StoreFailure.Unreachable);
    const closed = await failureOf(victim.query('SELECT 1'));
    expect(storeFailureOf(closed), JSON.stringify(safeError(closed))).to.equal(StoreFailure.Unreachable);
    victim.destroy();
  });

  it('calls a statement that outlived its client-side timeout unreachable', async () => {
    const conn = await pool.getConnection();
    try {
      const err = await failureOf(conn.query({ sql: 'SELECT SLEEP(2)', timeout: 50 }));
      expect((err as { code?: string }).code).to.equal('PROTOCOL_SEQUENCE_TIMEOUT');
      expect(storeFailureOf(err)).to.equal(StoreFailure.Unreachable);
    } finally {
      conn.destroy();
    }
  });

  it('calls a lock wait timeout busy, not unreachable', async () => {
    const holder = await pool.getConnection();
    const waiter = await pool.getConnection();
    try {
      await holder.beginTransaction();
      await holder.query(`SELECT * FROM ${table} WHERE id = 1 FOR UPDATE`);
      await waiter.query('SET SESSION innodb_lock_wait_timeout = 1');
      const err = await failureOf(waiter.query(`UPDATE ${table} SET code = 'b' WHERE id = 1`));
      expect((err as { errno?: number }).errno).to.equal(1205);
      expect(storeFailureOf(err)).to.equal(StoreFailure.Busy);
      expect(isStoreUnavailable(err)).to.equal(true);
    } finally {
      await holder.rollback();
      holder.release();
      waiter.destroy();
    }
  });

  it('leaves data, constraint and statement errors unclassified (they are answered INTERNAL or handled by the caller)', async () => {
    const errors = [
      await failureOf(pool.query(`INSERT INTO ${table} (id, code) VALUES (1, 'a')`)), // 1062 duplicate
      await failureOf(pool.query(`INSERT INTO ${table} (id, code) VALUES (2, 'too long')`)), // 1406 data too long
      await failureOf(pool.query(`INSERT INTO ${table} (id, code) VALUES (3, NULL)`)), // 1048 cannot be null
      await failureOf(pool.query('SELEC 1')), // 1064 syntax
      await failureOf(pool.query('SELECT * FROM no_such_table_anywhere')), // 1146
    ];
    expect(errors.map((e) => (e as { errno?: number }).errno)).to.deep.equal([1062, 1406, 1048, 1064, 1146]);
    for (const err of errors) expect(storeFailureOf(err), String((err as Error).message)).to.equal(undefined);
    for (const other of [new Error('boom'), new TypeError('x is undefined'), 'a string', undefined, null, { code: 'ECONNREFUSED' }]) {
      expect(storeFailureOf(other)).to.equal(undefined);
    }
  });

  it("does not take a refused connection of another client (the provider's HTTP client) for the database", async () => {
    const err = await failureOf(fetch(`http://127.0.0.1:${await closedPort()}/v1/payment_intents`));
    expect(storeFailureOf(err)).to.equal(undefined);
    expect(storeFailureOf(new Error('provider request failed', { cause: err }))).to.equal(undefined);
  });
});

describe("the logger's error serializer on real driver errors", () => {
  it('logs a driver error by its codes only: never its statement, values or message', async () => {
    const pool = await sharedPool();
    const marker = `customer-secret-${randomUUID()}`;
    const err = await failureOf(pool.query('SELECT * FROM no_such_table_for_logs WHERE note = ?', [marker]));
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).to.include(marker); // what mysql2 would have let through
    const logged = JSON.stringify(safeError(new Error('wrapped', { cause: err })));
    expect(logged).to.include('"errno":1146').and.include('ER_NO_SUCH_TABLE');
    expect(logged).to.not.include(marker);
    expect(logged).to.not.match(/SELECT|no_such_table_for_logs/);
  });

  it('logs any other error with its message and stack', () => {
    const out = safeError(new TypeError('x is undefined'));
    expect(out['message']).to.equal('x is undefined');
    expect(String(out['stack'])).to.include('x is undefined');
  });
});
