import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from './pool.js';

const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
/** Several instances may start at once; the loser of the lock waits this long for the winner to migrate. */
const MIGRATION_LOCK_TIMEOUT_SECONDS = 60;

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((file) => ({ version: Number(file.split('_')[0]), name: file, statements: splitStatements(readFileSync(path.join(dir, file), 'utf8')) }));
}

/**
 * Splits a migration into statements the way the mysql client does: a
 * statement ends where a line ends with the current delimiter (";" unless a
 * `DELIMITER` line changes it, as routines with bodies need); `--` comment
 * lines are dropped.
 */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let delimiter = ';';
  let current: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    const directive = /^DELIMITER\s+(\S+)$/i.exec(trimmed);
    if (directive?.[1]) {
      delimiter = directive[1];
      continue;
    }
    if (trimmed.startsWith('--') || (trimmed === '' && current.length === 0)) continue;
    if (trimmed.endsWith(delimiter)) {
      current.push(line.slice(0, line.lastIndexOf(delimiter)));
      statements.push(current.join('\n').trim());
      current = [];
    } else current.push(line);
  }
  if (current.join('').trim() !== '') statements.push(current.join('\n').trim());
  return statements.filter((s) => s !== '');
}

/**
 * Applies pending migrations. Safe to re-run (applied versions are recorded)
 * and safe with several instances starting at once: a named lock serialises
 * them, and each re-reads the applied set after taking it.
 */
export async function migrate(pool: Pool, migrations = loadMigrations()): Promise<number[]> {
  const conn = await pool.getConnection();
  try {
    await conn.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version INT NOT NULL PRIMARY KEY,
         name VARCHAR(255) NOT NULL,
         applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
       ) ENGINE=InnoDB`,
    );
    const [lockRows] = await conn.query('SELECT GET_LOCK(?, ?) AS got', ['payments.migrate', MIGRATION_LOCK_TIMEOUT_SECONDS]);
    if ((lockRows as Array<{ got: number | null }>)[0]?.got !== 1) {
      throw new Error('timed out waiting for another instance to finish migrating the database');
    }
    try {
      const [rows] = await conn.query('SELECT version FROM schema_migrations');
      const applied = new Set((rows as Array<{ version: number }>).map((r) => Number(r.version)));
      const done: number[] = [];
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        // DDL commits implicitly in MySQL; the lock, not a transaction, keeps this single-writer.
        for (const sql of m.statements) await conn.query(sql);
        await conn.query('INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [m.version, m.name]);
        done.push(m.version);
      }
      return done;
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', ['payments.migrate']);
    }
  } finally {
    conn.release();
  }
}
