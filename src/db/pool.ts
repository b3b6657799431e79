import type { Connection as CallbackConnection } from 'mysql2';
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
 * wsrep_sync_wait bit 1: every SELECT (and SHOW, BEGIN) first waits until this node has applied
 * every write-set the cluster had committed when the statement arrived. Bit 1 is enough: a
 * conditional UPDATE or DELETE run on a node that lags is refused at certification (1213,
 * retried) rather than applied to stale rows, and INSERTs are decided by the unique index.
 */
const WSREP_SYNC_WAIT_READS = 1;

/**
 * Galera only, in one statement that is valid everywhere: `/*M!100400 ... *\/` runs on MariaDB
 * 10.4+ and is a comment on MySQL; `IF(@@wsrep_on, ...)` keeps the session's own value
 * (changes nothing) on a MariaDB that is not a cluster node; what remains on MySQL sets a user
 * variable nobody reads. Never a separate round trip: the pool hands the connection out right
 * after its 'connection' event, so a setting decided in a callback would arrive after the
 * connection's first statement.
 */
const CAUSAL_READS_SQL = `SET @payments_session = 1 /*M!100400 , SESSION wsrep_sync_wait = IF(@@wsrep_on, ${WSREP_SYNC_WAIT_READS}, @@wsrep_sync_wait) */`;

export interface PoolOptions {
  /**
   * On a Galera node, make reads causal (wsrep_sync_wait, see above): a read sees every write
   * the cluster committed before it, wherever it was written. Default true; off only to
   * measure what it costs (scripts/galera/bench.ts).
   */
  causalReads?: boolean;
}

/**
 * Creates the connection pool. Every session runs at READ COMMITTED: the
 * idempotency claim must see rows committed by other instances the moment it
 * loses the unique-index race, which REPEATABLE READ's snapshot would hide.
 * On a Galera cluster every read also waits for the write-sets committed
 * before it (`causalReads`): without it a GetCharge on one node right after an
 * OK from another answers NOT_FOUND, and a replay, a wait for the leader or a
 * takeover decides on a row older than the cluster's.
 * `multipleStatements` lets one round trip carry a whole short transaction
 * (all values are bound with placeholders, never concatenated).
 */
export function createPool(url: string, connectionLimit = DEFAULT_CONNECTION_LIMIT, options: PoolOptions = {}): Pool {
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
  const causalReads = options.causalReads ?? true;
  pool.on('connection', (promiseTyped) => {
    // The promise pool passes its events through from the callback pool: at run time this is
    // the callback connection (as in query.ts), whose commands run in the order queued.
    const conn = promiseTyped as unknown as CallbackConnection;
    // The callback form is the only one `connection` events offer; errors surface on first use.
    conn.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SET time_zone = '+00:00'");
    if (causalReads) {
      // With a callback, so a failure is no unhandled 'error' event. "No such variable" (1193)
      // only says this MariaDB has no wsrep, so it is no cluster node and there is nothing to
      // do; any other failure means a broken connection, which its first statement reports.
      conn.query(CAUSAL_READS_SQL, () => undefined);
    }
  });
  return pool;
}
