import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ResultSetHeader, RowDataPacket } from 'mysql2';
import type { Pool } from './pool.js';

const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
/** Several instances may start at once; the loser of the lock waits this long for the winner to migrate. */
const MIGRATION_LOCK_TIMEOUT_SECONDS = 60;
/**
 * How long the lock outlives its last renewal: a holder that died is replaced after this.
 * Long enough that a renewal delayed by a busy server (or a DDL a cluster runs in isolation)
 * never lets a live holder lose the lock; short enough to be taken over within the waiters'
 * MIGRATION_LOCK_TIMEOUT_SECONDS.
 */
const MIGRATION_LOCK_LEASE_SECONDS = 30;
/** The holder renews several times per lease, so one slow renewal costs nothing. */
const MIGRATION_LOCK_RENEW_INTERVAL_MS = 5_000;
/** Waiters poll the lock row; migrations take a second or so, so this keeps the wait short. */
const MIGRATION_LOCK_POLL_MS = 200;

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

/** Duplicate key (1062) or, on a cluster, a certification conflict (1213): another instance got there first. */
const LOST_RACE_ERRNOS: ReadonlySet<number> = new Set([1062, 1213]);
/**
 * What re-running a statement that already took effect reports: table exists (1050), duplicate
 * column (1060), duplicate key name (1061), duplicate foreign key (1826), nothing to drop (1091).
 * Tolerated only when resuming the migration of a holder that died halfway (see migrate).
 */
const ALREADY_APPLIED_ERRNOS: ReadonlySet<number> = new Set([1050, 1060, 1061, 1826, 1091]);

/**
 * The lock is a row of schema_migrations itself, under a version no migration has (they are
 * numbered from 1): its `name` names the holder, its `applied_at` is when its lease ends. No
 * extra table, and the row is gone again once migrating is over.
 */
const LOCK_VERSION = 0;

function errnoOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'errno' in err ? Number((err as { errno: unknown }).errno) : undefined;
}

/**
 * The migration lock: one row in a table whose primary key admits one holder. Unlike
 * GET_LOCK, which only one server knows about, a row is replicated, so on a multi-primary
 * cluster (Galera) the unique key decides between instances on different nodes exactly as it
 * does on one server (the loser sees 1062, or 1213 at certification). The holder renews its
 * lease while it migrates; a holder that died stops renewing, and its lock is taken over once
 * the lease has passed by the database clock.
 */
class MigrationLock {
  private readonly owner = `lock ${randomBytes(16).toString('hex')}`;
  private renewal: NodeJS.Timeout | undefined;

  constructor(private readonly pool: Pool) {}

  /** Resolves `{ takenOver }` once held; `takenOver` when a dead holder's lock was taken. */
  async acquire(): Promise<{ takenOver: boolean }> {
    const deadline = Date.now() + MIGRATION_LOCK_TIMEOUT_SECONDS * 1000;
    for (;;) {
      try {
        await this.pool.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, NOW(6) + INTERVAL ? SECOND)', [
          LOCK_VERSION,
          this.owner,
          MIGRATION_LOCK_LEASE_SECONDS,
        ]);
        this.startRenewing();
        return { takenOver: false };
      } catch (err) {
        if (!LOST_RACE_ERRNOS.has(errnoOf(err) ?? 0)) throw err;
      }
      const [taken] = await this.pool
        .query<ResultSetHeader>('UPDATE schema_migrations SET name = ?, applied_at = NOW(6) + INTERVAL ? SECOND WHERE version = ? AND applied_at < NOW(6)', [
          this.owner,
          MIGRATION_LOCK_LEASE_SECONDS,
          LOCK_VERSION,
        ])
        .catch((err: unknown) => {
          if (LOST_RACE_ERRNOS.has(errnoOf(err) ?? 0)) return [{ affectedRows: 0 }] as const;
          throw err;
        });
      if (taken.affectedRows === 1) {
        this.startRenewing();
        return { takenOver: true };
      }
      if (Date.now() >= deadline) throw new Error('timed out waiting for another instance to finish migrating the database');
      await new Promise((resolve) => setTimeout(resolve, MIGRATION_LOCK_POLL_MS));
    }
  }

  async release(): Promise<void> {
    clearInterval(this.renewal);
    await this.pool.query('DELETE FROM schema_migrations WHERE version = ? AND name = ?', [LOCK_VERSION, this.owner]);
  }

  private startRenewing(): void {
    this.renewal = setInterval(() => {
      // A failed renewal is not fatal by itself: the lease still has most of its time left,
      // and if the database is gone the migration's own statements fail.
      this.pool
        .query('UPDATE schema_migrations SET applied_at = NOW(6) + INTERVAL ? SECOND WHERE version = ? AND name = ?', [
          MIGRATION_LOCK_LEASE_SECONDS,
          LOCK_VERSION,
          this.owner,
        ])
        .catch(() => undefined);
    }, MIGRATION_LOCK_RENEW_INTERVAL_MS);
    this.renewal.unref();
  }
}

/**
 * Applies pending migrations. Safe to re-run (applied versions are recorded)
 * and safe with several instances starting at once, on one server or on the
 * nodes of a multi-primary cluster: a lock row serialises them (MigrationLock),
 * and each re-reads the applied set after taking it. The `CREATE TABLE IF NOT
 * EXISTS` of the bookkeeping table may run everywhere at once: on Galera, DDL
 * runs in the same total order on every node, so all but the first are no-ops.
 */
export async function migrate(pool: Pool, migrations = loadMigrations()): Promise<number[]> {
  await pool.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       version INT NOT NULL PRIMARY KEY,
       name VARCHAR(255) NOT NULL,
       applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
     ) ENGINE=InnoDB`,
  );
  const lock = new MigrationLock(pool);
  const { takenOver } = await lock.acquire();
  try {
    // Read after taking the lock (and, on a cluster, causally: see pool.ts), so a version the
    // previous holder applied on another node is seen as applied.
    const [rows] = await pool.query<RowDataPacket[]>('SELECT version FROM schema_migrations WHERE version <> ?', [LOCK_VERSION]);
    const applied = new Set(rows.map((r) => Number(r['version'])));
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      // DDL commits implicitly in MySQL; the lock, not a transaction, keeps this single-writer.
      // A holder that died may have left the first pending migration half applied; when its
      // lock was taken over, statements that already took effect are skipped.
      for (const sql of m.statements) {
        await pool.query(sql).catch((err: unknown) => {
          if (!(takenOver && ALREADY_APPLIED_ERRNOS.has(errnoOf(err) ?? 0))) throw err;
        });
      }
      await pool.query('INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [m.version, m.name]);
      done.push(m.version);
    }
    return done;
  } finally {
    await lock.release();
  }
}
