import { driverErrorOf } from './driver-error.js';

/**
 * Why the database could not serve a statement, when that is temporary and says nothing about
 * the request itself (so the same request, retried later, can succeed):
 *
 * - `unreachable`: the store as a whole cannot be used right now (refused, lost or timed-out
 *   connections, a server shutting down, out of connections, read-only during a failover).
 *   Every other call would fail the same way, so readiness is checked at once.
 * - `busy`: the store is up but this statement lost to other work (lock wait timeout,
 *   deadlock, a statement time limit, this process's connection pool queue full). Other calls
 *   are fine; readiness is not affected.
 *
 * Anything else (data errors such as 1366/1406, syntax errors, access denied, pool closed) is
 * not temporary, or is a bug, and stays unclassified: it is answered INTERNAL and logged.
 */
export const StoreFailure = {
  Unreachable: 'unreachable',
  Busy: 'busy',
} as const;
export type StoreFailure = (typeof StoreFailure)[keyof typeof StoreFailure];

/**
 * Socket-level failures (Node's codes, passed through by the driver) and the driver's own
 * connection failures. Name resolution failures count too: during a failover the store's
 * host name is often what moves.
 */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', // nothing listens: server down or restarting
  'ECONNRESET', // connection dropped by the server or a proxy
  'ECONNABORTED',
  'EPIPE', // wrote to a connection the server already closed
  'ETIMEDOUT', // connect timeout (pool.ts) or a TCP timeout
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN', // temporary DNS failure
  'ENOTFOUND', // the host name does not resolve (yet, or any more)
  'PROTOCOL_CONNECTION_LOST', // the server closed the connection (killed, restarted)
  'PROTOCOL_SEQUENCE_TIMEOUT', // a statement's client-side timeout: the server stopped answering
]);

/** Server error numbers (stable across MySQL and MariaDB, unlike the driver's names for them). */
const UNREACHABLE_ERRNOS: ReadonlySet<number> = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1053, // ER_SERVER_SHUTDOWN: shutdown in progress
  1317, // ER_QUERY_INTERRUPTED: statement killed, normally by a shutdown
  1927, // ER_CONNECTION_KILLED (MariaDB): connection killed, e.g. by a shutdown or failover tool
  1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only, as on an old primary during a failover
  1836, // ER_READ_ONLY_MODE
  1047, // ER_UNKNOWN_COM_ERROR as Galera uses it: "WSREP has not yet prepared node for application use" (joining, or cut off from the cluster)
  // Client-side codes of the C client, which proxies in front of the server pass on as errors:
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
]);

const BUSY_ERRNOS: ReadonlySet<number> = new Set([
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK (where the caller does not retry it itself)
  1969, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  3024, // ER_QUERY_TIMEOUT (MySQL max_execution_time)
]);

/**
 * What mysql2's pool raises, as a plain Error with no code, when a statement would wait for a
 * connection behind `queueLimit` others (pool.ts bounds the queue so that an overload is
 * answered at once instead of queueing without end). The store is up, only saturated.
 */
const POOL_QUEUE_FULL_MESSAGE = 'Queue limit reached.';

/** How far to follow `cause` looking for a full pool queue: wrappers are shallow. */
const MAX_CAUSE_DEPTH = 5;

function isPoolQueueFull(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > MAX_CAUSE_DEPTH) return false;
  if (err.message === POOL_QUEUE_FULL_MESSAGE && (err as { code?: unknown }).code === undefined) return true;
  return isPoolQueueFull(err.cause, depth + 1);
}

/** The temporary store failure `err` is (or wraps), or undefined when it is not one. */
export function storeFailureOf(err: unknown): StoreFailure | undefined {
  // A full pool queue: busy, like a lock wait, since the store itself answers and other
  // instances (and this one, a moment later) are fine; readiness is not affected.
  if (isPoolQueueFull(err)) return StoreFailure.Busy;
  const driver = driverErrorOf(err);
  if (driver === undefined) return undefined;
  const { code, errno } = driver;
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return StoreFailure.Unreachable;
  if (errno !== undefined && UNREACHABLE_ERRNOS.has(errno)) return StoreFailure.Unreachable;
  if (errno !== undefined && BUSY_ERRNOS.has(errno)) return StoreFailure.Busy;
  // A command given to a pooled connection that died with the server: the driver raises it
  // without a code, marked fatal.
  if (code === undefined && driver.fatal === true) return StoreFailure.Unreachable;
  return undefined;
}

/** True when `err` is a temporary store failure: answer UNAVAILABLE, and retrying later is safe. */
export function isStoreUnavailable(err: unknown): boolean {
  return storeFailureOf(err) !== undefined;
}
