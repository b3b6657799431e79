import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { loadMigrations, migrate } from '../src/db/migrations.js';
import { createPool } from '../src/db/pool.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';

describe('database migrations', () => {
  it('apply once when several instances start at the same time on an empty database, and re-running is a no-op', async () => {
    const name = `mig_${randomBytes(6).toString('hex')}`;
    const admin = await sharedPool();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(sharedDatabaseUrl());
    url.pathname = `/${name}`;
    const pools = [0, 1, 2].map(() => createPool(url.toString(), 2));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p)));
      const versions = loadMigrations().map((m) => m.version);
      // Exactly one instance applied each version; the others found it done.
      expect(applied.flat().sort()).to.deep.equal(versions);
      expect(await migrate(pools[0]!)).to.deep.equal([]);
      const [rows] = await pools[0]!.query<RowDataPacket[]>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => Number(r['version']))).to.deep.equal(versions);
      const [tables] = await pools[0]!.query<RowDataPacket[]>('SHOW TABLES');
      expect(tables.map((t) => String(Object.values(t)[0])).sort()).to.deep.equal([
        'api_keys',
        'charges',
        'idempotency_keys',
        'lease_holders',
        'merchants',
        'refunds',
        'schema_migrations',
        'server_secrets',
      ]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await admin.query(`DROP DATABASE ${name}`);
    }
  });
});
