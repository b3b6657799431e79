import { driverErrorOf } from './driver-error.js';
import type { Pool } from './pool.js';

/**
 * `SELECT 1` answers in well under 10 ms from a healthy server. A second is two orders of
 * magnitude more, so only a server that stopped answering trips it, not a busy moment.
 */
export const PROBE_STATEMENT_TIMEOUT_MS = 1_000;

/**
 * Bound on a whole probe: waiting for a pooled connection, connecting (the pool's connect
 * timeout is 5 s, see pool.ts) and the statement. Waiting for a connection is deliberately
 * allowed (a busy pool is not an outage), but not forever: when every pooled connection hangs
 * on a stalled server, calls hang too, and that instance is not serving.
 */
export const PROBE_DEADLINE_MS = 10_000;

/**
 * Failures that mean the connection the probe was handed had already died (typically with a
 * server that restarted since it was last used), not that the store is down now. One retry
 * on a fresh connection tells the two apart; when the store really is down, it fails at once.
 */
const STALE_CONNECTION_CODES: ReadonlySet<string> = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE']);

export class StoreProbeTimeoutError extends Error {
  override name = 'StoreProbeTimeoutError';
  constructor() {
    super(`the database did not answer a probe within ${PROBE_DEADLINE_MS} ms`);
  }
}

function stale(err: unknown): boolean {
  const driver = driverErrorOf(err);
  if (driver === undefined) return false;
  // A command given to a connection that died: the driver raises it without a code.
  return driver.code === undefined ? driver.fatal === true : STALE_CONNECTION_CODES.has(driver.code);
}

/**
 * Resolves when the database answers a trivial statement on one of the pool's connections;
 * rejects with the driver's error (or StoreProbeTimeoutError) when it cannot. It runs on the
 * pool, so it checks exactly what calls use: the same address, credentials and session setup.
 */
export async function probeStore(pool: Pool): Promise<void> {
  try {
    await probeOnce(pool);
  } catch (err) {
    if (!stale(err)) throw err;
    await probeOnce(pool);
  }
}

async function probeOnce(pool: Pool): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let abandoned = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abandoned = true;
      reject(new StoreProbeTimeoutError());
    }, PROBE_DEADLINE_MS);
  });
  const acquiring = pool.getConnection();
  // A connection that arrives after the deadline goes straight back to the pool.
  acquiring.then(
    (conn) => {
      if (abandoned) conn.release();
    },
    () => undefined,
  );
  try {
    const conn = await Promise.race([acquiring, deadline]);
    try {
      await Promise.race([conn.query({ sql: 'SELECT 1', timeout: PROBE_STATEMENT_TIMEOUT_MS }), deadline]);
    } catch (err) {
      // The answer may still arrive later on this connection: never hand it out again.
      conn.destroy();
      throw err;
    }
    conn.release();
  } finally {
    clearTimeout(timer);
  }
}
