/**
 * What the MySQL driver (mysql2) puts on the errors it raises, or hands through from the socket:
 *
 * - server errors: `code` ('ER_LOCK_WAIT_TIMEOUT'), `errno` (1205), `sqlState`, and `sqlMessage`
 *   and `sql`, which quote the statement and its values (customer data, key hashes);
 * - socket errors: Node's `code` ('ECONNREFUSED'), a negative `errno`, `syscall`, plus `fatal`;
 * - protocol errors: `code` ('PROTOCOL_CONNECTION_LOST'), `fatal`;
 * - a statement's client-side timeout: `code` 'PROTOCOL_SEQUENCE_TIMEOUT' only;
 * - a command on a connection that already died: no code, `fatal: true`.
 */
export interface DriverError extends Error {
  code?: string;
  errno?: number;
  sqlState?: string;
  fatal?: boolean;
}

/** How far to follow `cause` (and AggregateError's `errors`) before giving up: wrappers are shallow. */
const MAX_CAUSE_DEPTH = 5;

/**
 * Recognised by what only the driver sets: `sqlState` (server errors), `fatal` (every failure
 * of the connection, socket errors included) or its own `PROTOCOL_` codes (a statement's
 * timeout carries nothing else). A socket error from elsewhere (the provider's HTTP client)
 * has Node's `code` too, but none of these, so it is never taken for a database error.
 */
function looksLikeDriverError(err: Error): err is DriverError {
  const e = err as DriverError;
  return typeof e.sqlState === 'string' || typeof e.fatal === 'boolean' || (typeof e.code === 'string' && e.code.startsWith('PROTOCOL_'));
}

/**
 * The driver error in `err` or in its cause chain (a wrapper may carry it as `cause`; Node's
 * multi-address connect reports an AggregateError), or undefined for anything else.
 */
export function driverErrorOf(err: unknown, depth = 0): DriverError | undefined {
  if (!(err instanceof Error) || depth > MAX_CAUSE_DEPTH) return undefined;
  if (looksLikeDriverError(err)) return err;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const found = driverErrorOf(inner, depth + 1);
      if (found) return found;
    }
  }
  return driverErrorOf(err.cause, depth + 1);
}
