import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { FINGERPRINT_VERSION } from '../src/idempotency/fingerprint.js';
import { MysqlIdempotencyStore, supportsInsertReturning } from '../src/idempotency/mysql-idempotency-store.js';
import { KeyState, RecoveryPoint } from '../src/idempotency/record.js';
import { sharedPool } from './support/database.js';

describe('claim statement', () => {
  it('uses INSERT ... RETURNING only on MariaDB 10.5 and later', () => {
    expect(supportsInsertReturning('10.11.19-MariaDB-0+deb12u1')).to.equal(true);
    expect(supportsInsertReturning('10.5.0-MariaDB')).to.equal(true);
    expect(supportsInsertReturning('11.4.2-MariaDB-log')).to.equal(true);
    expect(supportsInsertReturning('10.4.34-MariaDB')).to.equal(false);
    expect(supportsInsertReturning('8.0.36')).to.equal(false);
    expect(supportsInsertReturning('8.4.0-0ubuntu0.24.04.1')).to.equal(false);
    expect(supportsInsertReturning('')).to.equal(false);
  });

  it('never uses INSERT ... RETURNING on a Galera cluster, where a re-run statement can hand back a rolled-back row', () => {
    expect(supportsInsertReturning('10.11.19-MariaDB-0+deb12u1', true)).to.equal(false);
  });

  for (const insertReturning of [true, false, undefined]) {
    const mode = insertReturning === undefined ? 'detected from the server' : insertReturning ? 'INSERT ... RETURNING' : 'INSERT, then SELECT by key';
    it(`returns the row as the database wrote it, and the existing row to a second claim (${mode})`, async () => {
      const pool = await sharedPool();
      const store = new MysqlIdempotencyStore(pool, { insertReturning });
      const scope = `mer_claim_${randomUUID().slice(0, 8)}`;
      const payload = { fingerprint: Buffer.alloc(32, 7), fingerprintVersion: FINGERPRINT_VERSION, requestBody: Buffer.from('canonical') };
      const input = { scope, key: 'k1', method: '/m', payload, recoveryPoint: RecoveryPoint.ProviderRequested, ttlSeconds: 3600, leaseSeconds: 30 };

      const first = await store.claim(input);
      if (!first.won) throw new Error('the first claim of a new key must win');
      const [rows] = await pool.query<RowDataPacket[]>(
        'SELECT id, created_at, expires_at, locked_until, claim_token FROM idempotency_keys WHERE merchant_id = ?',
        [scope],
      );
      expect(rows).to.have.length(1);
      // The committed row carries the claim's token: a claim proves it won by that, not by the id it was handed.
      expect((rows[0]!['claim_token'] as Buffer).length).to.equal(16);
      const r = first.record;
      expect(r.id).to.equal(String(rows[0]!['id']));
      expect(r.createdAt.getTime()).to.equal((rows[0]!['created_at'] as Date).getTime());
      expect(r.expiresAt.getTime()).to.equal((rows[0]!['expires_at'] as Date).getTime());
      expect(r.lockedUntil?.getTime()).to.equal((rows[0]!['locked_until'] as Date).getTime());
      expect(r.expiresAt.getTime() - r.createdAt.getTime()).to.equal(3_600_000);
      expect(r.lockedUntil!.getTime() - r.dbNow.getTime()).to.be.within(29_000, 30_000);
      expect([r.scope, r.key, r.method, r.state, r.recoveryPoint, r.leaseVersion]).to.deep.equal([
        scope,
        'k1',
        '/m',
        KeyState.InProgress,
        RecoveryPoint.ProviderRequested,
        1,
      ]);
      expect(r.requestBody?.toString()).to.equal('canonical');
      expect(r.fingerprint.equals(payload.fingerprint)).to.equal(true);

      const second = await store.claim(input);
      expect(second.won).to.equal(false);
      expect(second.record.id).to.equal(r.id);

      // A read by key returns what a decision needs, as the claim returned it (and nothing an
      // attempt that holds the row needs: those columns are not read).
      const read = await store.read(scope, 'k1');
      const { dbNow, recoveryPoint: _point, attentionReason: _reason, createdAt: _created, ...decided } = r;
      expect(read).to.not.equal(undefined);
      expect({ ...read!, dbNow: undefined }).to.deep.equal({ ...decided, dbNow: undefined });
      expect(read!.dbNow.getTime()).to.be.at.least(dbNow.getTime());
      expect(read).to.not.have.any.keys('recoveryPoint', 'attentionReason', 'createdAt');
      await pool.query('DELETE FROM idempotency_keys WHERE merchant_id = ?', [scope]);
    });
  }
});
