import mysql from 'mysql2/promise';

export type Pool = mysql.Pool;

/** Connections per process; enough for 256 concurrent calls on a 2-core box without queueing on the pool. */
const DEFAULT_CONNECTION_LIMIT = 32;
/**
 * Statements that may wait for a free connection, per connection. mysql2's default (0) queues
 * without end, so under a flood every call waits behind every other and memory grows; past this
 * bound a statement fails at once ('Queue limit reached.', classified busy in
 * store-unavailable.ts) and the call is answered UNAVAILABLE with RetryInfo. Eight statements
 * per connection drain in a few milliseconds at the usual statement times.
 */
const QUEUED_STATEMENTS_PER_CONNECTION = 8;

/**
 * Creates the connection pool. Every session runs at READ COMMITTED: the
 * idempotency claim must see rows committed by other instances the moment it
 * loses the unique-index race, which REPEATABLE READ's snapshot would hide.
 * `multipleStatements` lets one round trip carry a whole short transaction
 * (all values are bound with placeholders, never concatenated).
 */
export function createPool(url: string, connectionLimit = DEFAULT_CONNECTION_LIMIT): Pool {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit,
    queueLimit: connectionLimit * QUEUED_STATEMENTS_PER_CONNECTION,
    multipleStatements: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: false,
    timezone: 'Z',
    enableKeepAlive: true,
    // Fail fast when the server is down: callers answer UNAVAILABLE instead of hanging.
    connectTimeout: 5_000,
  });
  pool.on('connection', (conn) => {
    // The callback form is the only one `connection` events offer; errors surface on first use.
    conn.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SET time_zone = '+00:00'");
  });
  return pool;
}
