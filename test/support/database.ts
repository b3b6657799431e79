import { migrate } from '../../src/db/migrations.js';
import { createPool, type Pool } from '../../src/db/pool.js';

let sharedUrl: string | undefined;
let shared: Promise<Pool> | undefined;

export function setSharedDatabaseUrl(url: string): void {
  sharedUrl = url;
}

export function sharedDatabaseUrl(): string {
  if (!sharedUrl) throw new Error('the test database is not started (root hooks not loaded?)');
  return sharedUrl;
}

/** The run's shared, migrated database. Tests isolate themselves by creating their own merchants. */
export function sharedPool(): Promise<Pool> {
  shared ??= (async () => {
    const pool = createPool(sharedDatabaseUrl());
    await migrate(pool);
    return pool;
  })();
  return shared;
}
