import { randomBytes } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2';
import { errno, MAX_DEADLOCK_ATTEMPTS, retryingDeadlocks } from '../db/deadlocks.js';
import type { Pool } from '../db/pool.js';
import { execute, query, queryOn } from '../db/query.js';
import { ClaimPath } from './claim-path.js';
import type { ClaimInput, ClaimResult, Completion, GuardedWrite, IdempotencyStore } from './idempotency-store.js';
import { COLUMNS, KEY_COLUMNS, type KeyRow, type Row, toKeyRecord, toRecord } from './key-rows.js';
import { HOLDER_GONE } from './lease-holder.js';
import type { Fence, IdempotencyRecord, KeyRecord, RecoveryPoint, StoredResponse } from './record.js';

const ER_DUP_ENTRY = 1062;
/** `attention_reason` is VARCHAR(64). */
const MAX_ATTENTION_REASON_LENGTH = 64;
/**
 * A stored status message is ours (validation and refusal texts, at most a few hundred
 * characters); the cap only guarantees that no message, whatever it quotes, can make an
 * outcome unstorable in `response_message` (TEXT, 65,535 bytes: 4,000 code points of 4 bytes
 * and the marker fit).
 */
export const MAX_STORED_MESSAGE_CODE_POINTS = 4_000;

/** Cuts a status message to MAX_STORED_MESSAGE_CODE_POINTS without splitting a character. */
export function fitStatusMessage(message: string): string {
  if (message.length <= MAX_STORED_MESSAGE_CODE_POINTS) return message;
  const points = Array.from(message);
  return points.length <= MAX_STORED_MESSAGE_CODE_POINTS ? message : `${points.slice(0, MAX_STORED_MESSAGE_CODE_POINTS - 1).join('')}…`;
}

/** merchant_id and idempotency_key are ascii_bin and keys never end in a space, so the row's are the ones asked for. */
const READ_BY_KEY = `SELECT ${KEY_COLUMNS} FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?`;
/** The same row for a waiter, which also needs to know whether the lease's holder is still alive. */
const READ_WAITING = `SELECT ${KEY_COLUMNS}, ${HOLDER_GONE} AS holder_gone FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?`;

/** Set by a fencing UPDATE in the transaction that carries guarded writes: 1 when it matched our lease. */
const FENCE_HELD = '@idempotency_fence_held';

/**
 * MariaDB from 10.5 returns the inserted row from the INSERT itself; MySQL 8 needs a read-back
 * SELECT, and so does a Galera cluster: there an `INSERT ... RETURNING` that a certification
 * conflict makes the server run again can hand back the rolled-back run's row, or no answer.
 */
export function supportsInsertReturning(version: string, galera = false): boolean {
  const m = /^(\d+)\.(\d+)\.\d+.*mariadb/i.exec(version);
  return !galera && m !== null && (Number(m[1]) > 10 || (Number(m[1]) === 10 && Number(m[2]) >= 5));
}

export interface MysqlIdempotencyStoreOptions {
  /** Claim with `INSERT ... RETURNING` (MariaDB 10.5+, not Galera); by default detected from the server. */
  insertReturning?: boolean;
  /** This instance as a lease holder: claims and takeovers record it, so a crash frees its rows early. */
  holder?: { id(): Buffer | null };
}

/** Bytes of a claim token: 128 random bits, never equal for two claims. */
const CLAIM_TOKEN_BYTES = 16;

/**
 * MySQL/MariaDB implementation. Every statement is written so that the
 * unique index and the lease version, never a prior read, decide who may
 * write: reads only choose which conditional write to attempt.
 */
export class MysqlIdempotencyStore implements IdempotencyStore {
  private readonly path = new ClaimPath();
  private claimSql: Promise<{ sql: string; returning: boolean }> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly options: MysqlIdempotencyStoreOptions = {},
  ) {}

  /**
   * The claim statement: a plain INSERT in its own autocommit transaction
   * that also returns the new row as the database wrote it (its clock).
   * MariaDB does both in one statement (RETURNING); MySQL reads the row
   * back by LAST_INSERT_ID() in the same round trip.
   */
  private claimStatement(): Promise<{ sql: string; returning: boolean }> {
    this.claimSql ??= (async () => {
      let returning = this.options.insertReturning;
      if (returning === undefined) {
        const [version, wsrep] = await Promise.all([
          query<Array<RowDataPacket & { version: string }>>(this.pool, 'SELECT VERSION() AS version', []),
          query<Array<RowDataPacket & { Value: string }>>(this.pool, "SHOW VARIABLES LIKE 'wsrep_on'", []),
        ]);
        returning = supportsInsertReturning(String(version[0]?.version ?? ''), String(wsrep[0]?.Value ?? '').toUpperCase() === 'ON');
      }
      const insert = `INSERT INTO idempotency_keys
          (merchant_id, idempotency_key, method, fingerprint, fingerprint_version, request_body, state, recovery_point,
           locked_until, lease_version, claim_token, lease_holder, expires_at)
        VALUES (?, ?, ?, ?, ?, ?, 'in_progress', ?, NOW(6) + INTERVAL ? SECOND, 1, ?, ?, NOW(6) + INTERVAL ? SECOND)`;
      // The read-back goes by key, not by LAST_INSERT_ID(): the row that committed for this key
      // is the one that decides, and the token says whether it is ours.
      return returning
        ? { sql: `${insert} RETURNING ${COLUMNS}`, returning }
        : { sql: `${insert};\n SELECT ${COLUMNS} FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?`, returning };
    })().catch((err: unknown) => {
      this.claimSql = undefined; // the version query failed (database down): ask again next time
      throw err;
    });
    return this.claimSql;
  }

  async claim(input: ClaimInput): Promise<ClaimResult> {
    const result = await this.claimOnce(input);
    this.path.record(!result.won);
    return result;
  }

  private async claimOnce(input: ClaimInput): Promise<ClaimResult> {
    // During a run of retries, a plain indexed read finds the key before any
    // write, so a replay costs what a GetCharge costs (see ClaimPath).
    if (this.path.readFirst()) {
      const existing = await this.read(input.scope, input.key);
      if (existing) return { won: false, record: existing };
    }
    // The claim is one round trip (see claimStatement). The unique index
    // decides every race: if the key exists, the INSERT fails with 1062, the
    // batch stops, and we read the row that holds the key.
    const { sql, returning } = await this.claimStatement();
    const token = randomBytes(CLAIM_TOKEN_BYTES);
    const values = [
      input.scope,
      input.key,
      input.method,
      input.payload.fingerprint,
      input.payload.fingerprintVersion,
      input.payload.requestBody,
      input.recoveryPoint,
      input.leaseSeconds,
      token,
      this.options.holder?.id() ?? null,
      input.ttlSeconds,
      ...(returning ? [] : [input.scope, input.key]),
    ];
    // A deadlock victim claims again (retryingDeadlocks); a key released between our failed
    // INSERT and the read is claimed again here, a bounded number of times.
    for (let attempt = 1; attempt <= MAX_DEADLOCK_ATTEMPTS; attempt++) {
      try {
        const result = await retryingDeadlocks(() => query<Row[] | [ResultSetHeader, Row[]]>(this.pool, sql, values));
        const row = returning ? (result as Row[])[0] : (result as [ResultSetHeader, Row[]])[1][0];
        // No row for the key right after our INSERT succeeded: it was released meanwhile; claim again.
        if (!row) continue;
        // Won only if the committed row is the one this claim wrote (see migration 005).
        return { won: row.claim_token !== null && token.equals(row.claim_token), record: toRecord(row) };
      } catch (err) {
        if (errno(err) !== ER_DUP_ENTRY) throw err;
        // The key is taken (a retry, or a concurrent INSERT that committed first): read its row.
        const record = await this.read(input.scope, input.key);
        if (record) return { won: false, record };
      }
    }
    throw new Error(`claim of an idempotency key did not settle after ${MAX_DEADLOCK_ATTEMPTS} attempts`);
  }

  async read(scope: string, key: string): Promise<KeyRecord | undefined> {
    const rows = await execute<KeyRow[]>(this.pool, READ_BY_KEY, [scope, key]);
    return rows[0] ? toKeyRecord(rows[0], scope, key) : undefined;
  }

  async readWaiting(scope: string, key: string): Promise<KeyRecord | undefined> {
    const rows = await execute<KeyRow[]>(this.pool, READ_WAITING, [scope, key]);
    return rows[0] ? toKeyRecord(rows[0], scope, key) : undefined;
  }

  async takeOver(record: KeyRecord, leaseSeconds: number): Promise<IdempotencyRecord | undefined> {
    // Conditional on the version we saw and on the lease having ended by the database clock
    // (expired, or its holder stopped renewing): of several instances racing to take over,
    // exactly one matches.
    const [results] = await retryingDeadlocks(() =>
      this.pool.query(
        `UPDATE idempotency_keys SET lease_version = lease_version + 1, locked_until = NOW(6) + INTERVAL ? SECOND, lease_holder = ?
        WHERE id = ? AND lease_version = ? AND state = 'in_progress' AND (locked_until IS NULL OR locked_until <= NOW(6) OR ${HOLDER_GONE});
       SELECT ${COLUMNS} FROM idempotency_keys WHERE id = ?`,
        [leaseSeconds, this.options.holder?.id() ?? null, record.id, record.leaseVersion, record.id],
      ),
    );
    const [update, rows] = results as [ResultSetHeader, Row[]];
    const row = rows[0];
    if (update.affectedRows !== 1 || !row) return undefined;
    const taken = toRecord(row);
    return taken.leaseVersion === record.leaseVersion + 1 ? taken : undefined;
  }

  async advance(fence: Fence, point: RecoveryPoint, leaseSeconds: number, writes: GuardedWrite[]): Promise<unknown[] | undefined> {
    const results = await this.fencedTransaction(
      {
        sql: `UPDATE idempotency_keys SET recovery_point = ?, locked_until = NOW(6) + INTERVAL ? SECOND
               WHERE id = ? AND lease_version = ? AND state = 'in_progress'`,
        values: [point, leaseSeconds, fence.id, fence.leaseVersion],
      },
      writes,
    );
    return results?.writes;
  }

  async complete(fence: Fence, response: StoredResponse, writes: GuardedWrite[], ttlSeconds: number): Promise<Completion | undefined> {
    const results = await this.fencedTransaction(
      {
        // The key's expiry counts from its completion: an outcome that took longer than the TTL
        // to settle (a provider outage) must still be replayed for a whole TTL, never found
        // expired by the retry that comes right after it.
        sql: `UPDATE idempotency_keys SET state = 'completed', recovery_point = 'completed', locked_until = NULL,
                response_code = ?, response_message = ?, response_body = ?, response_trailers = ?,
                expires_at = GREATEST(expires_at, NOW(6) + INTERVAL ? SECOND)
               WHERE id = ? AND lease_version = ? AND state = 'in_progress'`,
        values: [
          response.code,
          fitStatusMessage(response.message),
          response.body,
          response.trailers.length > 0 ? Buffer.from(JSON.stringify(response.trailers)) : null,
          ttlSeconds,
          fence.id,
          fence.leaseVersion,
        ],
      },
      writes,
      // Read in the same transaction: the expiry this completion set, for the caller's headers and memory.
      { sql: 'SELECT expires_at, NOW(6) AS db_now FROM idempotency_keys WHERE id = ?', values: [fence.id] },
    );
    if (!results) return undefined;
    const row = (results.readBack as Array<{ expires_at: Date; db_now: Date }> | undefined)?.[0];
    if (!row) throw new Error('a completed idempotency row could not be read back');
    return { expiresAt: row.expires_at, dbNow: row.db_now };
  }

  /**
   * Runs the fencing UPDATE first (conditional on our lease version), then
   * the handler's writes guarded by "that UPDATE matched our row", then
   * COMMIT, all in one round trip. If the UPDATE matched nothing we do not
   * hold the lease, the guard is false, and the writes change nothing; if it
   * matched, we hold the row's X lock until COMMIT, so nobody can take over
   * in between. Resolves undefined when fenced out, else the writes' results
   * and the optional read-back's rows (read before COMMIT, under that lock).
   */
  private async fencedTransaction(
    update: { sql: string; values: unknown[] },
    writes: GuardedWrite[],
    readBack?: { sql: string; values: unknown[] },
  ): Promise<{ writes: unknown[]; readBack: unknown } | undefined> {
    // ROW_COUNT() of the fencing UPDATE, kept in a session variable for every
    // guarded write of this transaction (cheaper than re-reading the row).
    const statements = writes.map((w) => w(`${FENCE_HELD} = 1`, []));
    const tail = readBack ? [readBack] : [];
    const sql = ['START TRANSACTION', update.sql, `SET ${FENCE_HELD} = ROW_COUNT()`, ...statements.map((s) => s.sql), ...tail.map((s) => s.sql), 'COMMIT'].join(
      ';\n',
    );
    const values = [...update.values, ...statements.flatMap((s) => s.values), ...tail.flatMap((s) => s.values)];
    // A deadlock victim was rolled back whole; the fence still decides when it runs again (if
    // another attempt took the row over meanwhile, nothing is written).
    return retryingDeadlocks(async () => {
      if (statements.length === 0 && !readBack) {
        const result = await query<ResultSetHeader>(this.pool, update.sql, update.values);
        return result.affectedRows === 1 ? { writes: [], readBack: undefined } : undefined;
      }
      const results = await this.runBatch(sql, values);
      // [START, fencing UPDATE, SET, ...writes, readBack?, COMMIT]
      if ((results[1] as ResultSetHeader | undefined)?.affectedRows !== 1) return undefined;
      return { writes: results.slice(3, 3 + statements.length), readBack: readBack ? results[3 + statements.length] : undefined };
    });
  }

  /** One multi-statement transaction on one connection; rolled back there if a statement fails. */
  private async runBatch(sql: string, values: unknown[]): Promise<unknown[]> {
    const conn = await this.pool.getConnection();
    try {
      return await queryOn<unknown[]>(conn, sql, values);
    } catch (err) {
      // The batch stopped at the failing statement, inside the transaction.
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }

  async release(fence: Fence): Promise<boolean> {
    const [result] = await retryingDeadlocks(() =>
      this.pool.query<ResultSetHeader>("DELETE FROM idempotency_keys WHERE id = ? AND lease_version = ? AND state = 'in_progress'", [
        fence.id,
        fence.leaseVersion,
      ]),
    );
    return result.affectedRows === 1;
  }

  async park(fence: Fence, reason: string): Promise<boolean> {
    const [result] = await retryingDeadlocks(() =>
      this.pool.query<ResultSetHeader>(
        `UPDATE idempotency_keys SET state = 'needs_attention', attention_reason = ?, locked_until = NULL
        WHERE id = ? AND lease_version = ? AND state = 'in_progress'`,
        [reason.slice(0, MAX_ATTENTION_REASON_LENGTH), fence.id, fence.leaseVersion],
      ),
    );
    return result.affectedRows === 1;
  }

  async abandon(fence: Fence): Promise<boolean> {
    const [result] = await retryingDeadlocks(() =>
      this.pool.query<ResultSetHeader>("UPDATE idempotency_keys SET locked_until = NOW(6) WHERE id = ? AND lease_version = ? AND state = 'in_progress'", [
        fence.id,
        fence.leaseVersion,
      ]),
    );
    return result.affectedRows === 1;
  }

  async deleteExpired(record: KeyRecord): Promise<void> {
    await retryingDeadlocks(() => this.pool.query("DELETE FROM idempotency_keys WHERE id = ? AND state = 'completed' AND expires_at <= NOW(6)", [record.id]));
  }

  async findAbandoned(limit: number, methods: string[]): Promise<IdempotencyRecord[]> {
    if (methods.length === 0) return [];
    // Only rows this build can resume: a row it cannot (no stored request, or a method of
    // another version during a rolling deploy) must never fill the batch and starve the rest.
    const [rows] = await this.pool.query<Row[]>(
      `SELECT ${COLUMNS} FROM idempotency_keys
        WHERE state = 'in_progress' AND (locked_until <= NOW(6) OR ${HOLDER_GONE}) AND request_body IS NOT NULL AND method IN (?)
        ORDER BY locked_until LIMIT ?`,
      [methods, limit],
    );
    return rows.map(toRecord);
  }

  async reapExpired(limit: number): Promise<number> {
    // Small batches on the expires_at index keep each statement's locks short;
    // the state condition is what guarantees an in-flight row is never deleted.
    const [result] = await this.pool.query<ResultSetHeader>(
      "DELETE FROM idempotency_keys WHERE expires_at <= NOW(6) AND state = 'completed' ORDER BY expires_at LIMIT ?",
      [limit],
    );
    return result.affectedRows;
  }
}
