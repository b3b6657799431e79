import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../src/db/pool.js';
import { FINGERPRINT_VERSION } from '../src/idempotency/fingerprint.js';
import { MysqlIdempotencyStore } from '../src/idempotency/mysql-idempotency-store.js';
import { KeyState, RecoveryPoint } from '../src/idempotency/record.js';
import { sharedPool } from './support/database.js';

/**
 * InnoDB resolves a deadlock by rolling one transaction back whole. When the
 * victim is the transaction that stores an outcome, the store must run it
 * again: otherwise the client gets UNAVAILABLE for a charge that happened,
 * and its key stays blocked until the lease ends (seen under the duplicate
 * benchmark's load, where concurrent completions deadlock now and then).
 */
/** Deadlocks InnoDB has resolved since start (MariaDB's status variable, or MySQL's InnoDB metric). */
async function deadlocks(pool: Pool): Promise<number> {
  const [status] = await pool.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'");
  if (status[0]) return Number(status[0]['Value']);
  const [metric] = await pool.query<RowDataPacket[]>("SELECT `COUNT` AS n FROM information_schema.INNODB_METRICS WHERE NAME = 'lock_deadlocks'");
  return Number(metric[0]?.['n']);
}

/** Returns once some transaction holds the key's row: a probe that will not wait for it is refused. */
async function untilRowLocked(pool: Pool, id: string): Promise<void> {
  const probe = await pool.getConnection();
  try {
    for (;;) {
      await probe.query('START TRANSACTION');
      try {
        await probe.query('SELECT id FROM idempotency_keys WHERE id = ? FOR UPDATE NOWAIT', [id]);
      } catch (err) {
        // MariaDB refuses with 1205 (lock wait timeout), MySQL with 3572 (ER_LOCK_NOWAIT).
        if ([1205, 3572].includes(Number((err as { errno?: number }).errno))) return;
        throw err;
      } finally {
        await probe.query('ROLLBACK');
      }
    }
  } finally {
    probe.release();
  }
}

describe('completion chosen as a deadlock victim', () => {
  it('is run again and stores the outcome with its guarded writes once', async function () {
    this.timeout(30_000);
    const pool = await sharedPool();
    const store = new MysqlIdempotencyStore(pool);
    const scope = `mer_deadlock_${randomUUID().slice(0, 8)}`;
    const claimed = await store.claim({
      scope,
      key: 'k',
      method: '/m',
      payload: { fingerprint: Buffer.alloc(32, 1), fingerprintVersion: FINGERPRINT_VERSION, requestBody: Buffer.alloc(0) },
      recoveryPoint: RecoveryPoint.ProviderRequested,
      ttlSeconds: 60,
      leaseSeconds: 30,
    });
    // Rows another transaction will lock; it changes more rows than the completion, so InnoDB picks the completion as victim.
    const names = Array.from({ length: 20 }, (_, i) => `${scope}_${i}`);
    await pool.query(
      `INSERT INTO merchants (id, name) VALUES ${names.map(() => '(?, ?)').join(', ')}`,
      names.flatMap((n) => [n, 'before']),
    );

    const deadlocksBefore = await deadlocks(pool);
    const other = await pool.getConnection();
    try {
      await other.query('START TRANSACTION');
      await other.query("UPDATE merchants SET name = 'other' WHERE id LIKE ?", [`${scope}_%`]);

      // The completion takes the key's row, then waits for a merchant row the other transaction holds...
      const completion = store.complete(
        { id: claimed.record.id, leaseVersion: claimed.record.leaseVersion },
        { code: 0, message: '', body: Buffer.from('charge'), trailers: [] },
        [(guard, values) => ({ sql: `UPDATE merchants SET name = 'completed' WHERE id = ? AND ${guard}`, values: [names[0], ...values] })],
        86_400,
      );
      await untilRowLocked(pool, claimed.record.id);
      // ...and the other transaction now asks for the key's row: a deadlock, and the completion is rolled back.
      await other.query('UPDATE idempotency_keys SET lease_version = lease_version WHERE id = ?', [claimed.record.id]);
      await other.query('ROLLBACK');

      expect((await completion)?.expiresAt).to.be.instanceOf(Date);
    } finally {
      other.release();
    }
    const record = await store.read(scope, 'k');
    expect(record?.state).to.equal(KeyState.Completed);
    expect(record?.response?.body?.toString()).to.equal('charge');
    const [rows] = await pool.query<RowDataPacket[]>('SELECT name, COUNT(*) AS n FROM merchants WHERE id LIKE ? GROUP BY name ORDER BY name', [`${scope}_%`]);
    expect(rows.map((r) => [r['name'], Number(r['n'])])).to.deep.equal([
      ['before', 19],
      ['completed', 1],
    ]);
    expect(await deadlocks(pool)).to.be.greaterThan(deadlocksBefore);
    await pool.query('DELETE FROM merchants WHERE id LIKE ?', [`${scope}_%`]);
    await pool.query('DELETE FROM idempotency_keys WHERE merchant_id = ?', [scope]);
  });
});
