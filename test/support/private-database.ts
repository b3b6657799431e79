import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type LocalMysql, startLocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool, type Pool } from '../../src/db/pool.js';

export interface PrivateDatabase {
  db: LocalMysql;
  pool: Pool;
  close(): Promise<void>;
}

/** A migrated database of its own, for tests that kill and restart the server under it. */
export async function startPrivateDatabase(): Promise<PrivateDatabase> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'payments-private-db-'));
  const db = await startLocalMysql({ dataDir });
  const pool = createPool(db.url);
  await migrate(pool);
  return {
    db,
    pool,
    close: async () => {
      await pool.end();
      await db.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
