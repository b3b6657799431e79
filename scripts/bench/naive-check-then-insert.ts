import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../../src/db/pool.js';
import type { NaiveDecision, NaiveKeyStore } from './naive-key-store.js';

/** Bench-only table; it exists only in the benchmark's database and is dropped at the end of a run. */
export const CHECK_THEN_INSERT_TABLE = 'bench_naive_idempotency';

/**
 * Deliberately without a UNIQUE index: the index only makes the SELECT cheap,
 * it arbitrates nothing. This is the check-then-insert a team writes first.
 */
export async function createCheckThenInsertTable(pool: Pool): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${CHECK_THEN_INSERT_TABLE} (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    merchant_id      VARCHAR(40)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    idempotency_key  VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    response_body    MEDIUMBLOB   NOT NULL,
    created_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY ix_bench_naive_key (merchant_id, idempotency_key)
  ) ENGINE=InnoDB`);
}

export async function dropCheckThenInsertTable(pool: Pool): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS ${CHECK_THEN_INSERT_TABLE}`);
}

interface KeyRow extends RowDataPacket {
  response_body: Buffer;
}

/**
 * Check-then-insert at application level: SELECT the key; if absent, run the
 * handler (the provider charge) and only then INSERT the key with the
 * response. Every call that SELECTs between another call's SELECT and its
 * INSERT (a whole provider round trip later) charges again.
 */
export class CheckThenInsertStore implements NaiveKeyStore {
  constructor(private readonly pool: Pool) {}

  async begin(scope: string, key: string): Promise<NaiveDecision> {
    const [rows] = await this.pool.query<KeyRow[]>(
      `SELECT response_body FROM ${CHECK_THEN_INSERT_TABLE} WHERE merchant_id = ? AND idempotency_key = ? ORDER BY id LIMIT 1`,
      [scope, key],
    );
    const found = rows[0];
    if (found) return { kind: 'replay', body: found.response_body };
    return {
      kind: 'proceed',
      ticket: {
        complete: async (body) => {
          await this.pool.query(`INSERT INTO ${CHECK_THEN_INSERT_TABLE} (merchant_id, idempotency_key, response_body) VALUES (?, ?, ?)`, [scope, key, body]);
        },
        // Nothing was written before the handler ran, so there is nothing to undo.
        abandon: async () => undefined,
      },
    };
  }

  async close(): Promise<void> {
    // The pool belongs to the server process.
  }
}
