import type { Connection as CallbackConnection } from 'mysql2';
import type { PoolConnection } from 'mysql2/promise';
import type { Pool } from './pool.js';

/**
 * `pool.query` without the promise wrapper's per-call stack capture, which
 * costs more than the query's own bookkeeping on hot paths (a few percent of
 * a replay's CPU). Errors still carry the driver's fields (errno, code).
 */
export function query<T>(pool: Pool, sql: string, values: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    pool.pool.query(sql, values, (err, results) => (err ? reject(err) : resolve(results as T)));
  });
}

/** The same on a connection taken from the pool (for multi-statement transactions that must stay on it). */
export function queryOn<T>(conn: PoolConnection, sql: string, values: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    (conn.connection as unknown as CallbackConnection).query(sql, values, (err, results) => (err ? reject(err) : resolve(results as T)));
  });
}

/**
 * A prepared statement (binary protocol), for the hottest reads: the server
 * parses the statement once per connection, and the row comes back in binary
 * form (no number or date text to parse, no SQL text to escape per call).
 */
export function execute<T>(pool: Pool, sql: string, values: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    pool.pool.execute(sql, values as never, (err, results) => (err ? reject(err) : resolve(results as T)));
  });
}
