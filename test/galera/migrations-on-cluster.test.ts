import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { loadMigrations, migrate } from '../../src/db/migrations.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { sharedDatabaseUrl, sharedPool } from '../support/database.js';
import { type Cluster, galeraCluster, requireGalera } from './support/galera-fixture.js';

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function versions(pool: Pool): Promise<number[]> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((r) => Number(r['version']));
}

describe('migrations on a Galera cluster', function () {
  this.timeout(300_000);
  let c: Cluster;

  before(async function () {
    requireGalera(this);
    this.timeout(180_000);
    c = await galeraCluster();
  });

  it('apply each version once when three instances, one per node, migrate an empty database at the same time', async () => {
    const name = `mig_${randomBytes(6).toString('hex')}`;
    // DDL is replicated in total order: the database exists on every node once this returns.
    await c.pools[0]!.query(`CREATE DATABASE ${name}`);
    const pools = c.cluster.urls.map((url) => createPool(withDatabase(url, name), 2));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p)));
      const all = loadMigrations().map((m) => m.version);
      expect(applied.flat().sort((a, b) => a - b)).to.deep.equal(all);
      for (const pool of pools) {
        expect(await versions(pool)).to.deep.equal(all);
        // Every node holds every table: the ones the migrations create, and schema_migrations.
        const [tables] = await pool.query<RowDataPacket[]>('SHOW TABLES');
        const created = loadMigrations()
          .flatMap((m) => m.statements)
          .flatMap((sql) => [...sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/gi)].map((x) => x[1]));
        expect(tables.map((t) => Object.values(t)[0]).sort()).to.deep.equal([...new Set([...created, 'schema_migrations'])].sort());
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await c.pools[0]!.query(`DROP DATABASE ${name}`);
    }
  });
});

describe('the migration lock', () => {
  it('is taken over from an instance that died while migrating, whose half-applied migration is then completed', async () => {
    const name = `mig_${randomBytes(6).toString('hex')}`;
    const admin = await sharedPool();
    await admin.query(`CREATE DATABASE ${name}`);
    const pool = createPool(withDatabase(sharedDatabaseUrl(), name), 2);
    try {
      const migrations = loadMigrations();
      // What a holder leaves when it dies after the first statement of the first migration:
      // its lock row with a lease that has run out, and one table.
      await pool.query(
        'CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB',
      );
      await pool.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (0, 'lock of a dead instance', NOW(6) - INTERVAL 1 SECOND)");
      await pool.query(migrations[0]!.statements[0]!);
      expect(await migrate(pool, migrations)).to.deep.equal(migrations.map((m) => m.version));
      expect(await versions(pool)).to.deep.equal(migrations.map((m) => m.version));
    } finally {
      await pool.end();
      await admin.query(`DROP DATABASE ${name}`);
    }
  });
});
