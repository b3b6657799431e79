import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type LocalMysql, startLocalMysql } from '../../src/db/local-mysql.js';
import { setSharedDatabaseUrl } from '../support/database.js';

/**
 * One private MySQL/MariaDB instance for the whole test run, unless MYSQL_URL
 * points at an existing server. Tests that kill or restart the database start
 * their own instance instead of touching this one.
 */
let local: LocalMysql | undefined;
let dataDir: string | undefined;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    if (process.env['MYSQL_URL']) {
      setSharedDatabaseUrl(process.env['MYSQL_URL']);
      return;
    }
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'payments-test-db-'));
    local = await startLocalMysql({ dataDir });
    setSharedDatabaseUrl(local.url);
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await local?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  },
};
