import path from 'node:path';
import { startLocalMysql } from '../src/db/local-mysql.js';
import { migrate } from '../src/db/migrations.js';
import { createPool, type Pool } from '../src/db/pool.js';

function logToStderr(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/**
 * Runs an admin command against the service's database: MYSQL_URL when set, else the private
 * instance of `npm start` under `$PAYMENTS_DATA_DIR/mysql` (default `.data/mysql`). A running
 * private instance is reused and left running; a stopped one is started for the command and
 * stopped again afterwards. The schema is migrated first.
 */
export async function withCommandDatabase<T>(run: (pool: Pool) => Promise<T>): Promise<T> {
  const configured = process.env['MYSQL_URL']?.trim();
  let stop: (() => Promise<void>) | undefined;
  let url: string;
  if (configured) url = configured;
  else {
    const dataDir = path.resolve(process.env['PAYMENTS_DATA_DIR'] ?? '.data', 'mysql');
    const local = await startLocalMysql({ dataDir, reuseRunning: true, log: logToStderr });
    url = local.url;
    // Stops it only if no other live process (an `npm start`) holds it.
    stop = async () => {
      await local.release();
    };
  }
  const pool = createPool(url, 2);
  try {
    await migrate(pool);
    return await run(pool);
  } finally {
    await pool.end();
    await stop?.();
  }
}
