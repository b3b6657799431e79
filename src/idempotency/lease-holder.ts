import { randomBytes } from 'node:crypto';
import type { Pool } from '../db/pool.js';
import { query } from '../db/query.js';
import type { Logger } from '../logger.js';

/**
 * A crashed instance's calls wait about this long before another instance resumes them, instead
 * of a whole lease (IDEMPOTENCY_LEASE_SECONDS, 30 s). Renewed every second, so five missed
 * renewals in a row declare an instance gone; one declared gone by mistake (a long pause) loses
 * its rows to the lease-version fence, never money.
 */
export const DEFAULT_HOLDER_TIMEOUT_SECONDS = 5;
/** Longest holder timeout accepted: past the lease it changes nothing anyway. */
export const MAX_HOLDER_TIMEOUT_SECONDS = 3600;

/** Bytes of an instance's holder id: 128 random bits, new at every start. */
const HOLDER_ID_BYTES = 16;
/** Renewals per timeout: a holder is declared gone only after this many renewals in a row failed or were late. */
const RENEWALS_PER_TIMEOUT = 5;
/** Rows of instances gone for longer than this are deleted (at start); a missing row reads as gone anyway. */
const FORGET_AFTER_HOURS = 24;

/**
 * SQL condition, on a row of `idempotency_keys`: its lease holder is known and has stopped
 * renewing by the database clock (killed, frozen, or cut off from the database). NULL holders
 * (rows claimed with liveness off, or by an older build) never match: only their lease counts.
 */
export const HOLDER_GONE = `(lease_holder IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM lease_holders h WHERE h.holder_id = idempotency_keys.lease_holder AND h.alive_until > NOW(6)))`;

export interface LeaseHolderOptions {
  /** An instance that has not renewed for this long is gone: its leases may be taken over. */
  timeoutSeconds: number;
  log: Logger;
  /** Monotonic milliseconds (default performance.now); tests pass their own. */
  now?: () => number;
}

/**
 * This instance as a lease holder: a random id and a row in `lease_holders` it renews every
 * timeout/5. Claims and takeovers record `id()` on the rows they lease, so another instance can
 * take a row over as soon as its holder stops renewing instead of waiting out the whole lease.
 *
 * Safety never depends on it: a row is taken over only by a conditional UPDATE that bumps the
 * lease version, and every write of the earlier holder is fenced by that version. A holder that
 * was only slow (a long pause, a lost database) finds its rows taken over and writes nothing.
 */
export class LeaseHolder {
  private readonly holderId = randomBytes(HOLDER_ID_BYTES);
  /** When the last renewal that committed was sent (monotonic ms); undefined before the first. */
  private renewedAt: number | undefined;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly o: LeaseHolderOptions,
  ) {
    this.now = o.now ?? (() => performance.now());
  }

  /**
   * The id to record on a row this instance leases, or null (the row then waits out its lease
   * after a crash, as without holders) while this instance's own liveness is in doubt: before
   * its first renewal committed (a row naming a holder the database has never seen alive would
   * read as gone at once), and once its last committed renewal was sent more than half a
   * timeout ago (renewals failing or stuck behind a busy database: the row it would name may
   * run out before the next one lands, and a fresh claim would be taken over under its leader).
   */
  id(): Buffer | null {
    return this.renewedAt !== undefined && this.now() - this.renewedAt < (this.o.timeoutSeconds * 1000) / 2 ? this.holderId : null;
  }

  /** This instance's id, whether or not its liveness is in doubt (for operators and tests). */
  get holderIdentity(): Buffer {
    return this.holderId;
  }

  /** Registers this instance (a database that is down only delays it) and renews from then on. */
  async start(): Promise<void> {
    await query(this.pool, `DELETE FROM lease_holders WHERE alive_until < NOW(6) - INTERVAL ${FORGET_AFTER_HOURS} HOUR LIMIT 1000`, []).catch(() => undefined);
    await this.renew();
    const interval = Math.max(100, (this.o.timeoutSeconds * 1000) / RENEWALS_PER_TIMEOUT);
    this.timer = setInterval(() => {
      // One renewal at a time: a slow database must not pile them up.
      this.renewing ??= this.renew().finally(() => {
        this.renewing = undefined;
      });
    }, interval);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    // Taken before sending: the database sets alive_until from its clock when the statement runs, later than this.
    const sentAt = this.now();
    try {
      await query(
        this.pool,
        `INSERT INTO lease_holders (holder_id, alive_until) VALUES (?, NOW(6) + INTERVAL ? SECOND)
          ON DUPLICATE KEY UPDATE alive_until = NOW(6) + INTERVAL ? SECOND`,
        [this.holderId, this.o.timeoutSeconds, this.o.timeoutSeconds],
      );
      // A renewal that lands after stop() must not make a stopped holder recordable again.
      if (!this.stopped) this.renewedAt = sentAt;
    } catch (err) {
      // Not fatal: until a renewal lands again, other instances may take this one's rows over,
      // and the lease version keeps this instance from writing to them.
      this.o.log.warn({ err }, 'lease holder renewal failed');
    }
  }

  /**
   * Stops renewing and deletes the row, so rows this instance still holds (outcomes left for
   * recovery) are taken over at once. Call after the server has drained its calls.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.renewedAt = undefined;
    clearInterval(this.timer);
    await this.renewing;
    await query(this.pool, 'DELETE FROM lease_holders WHERE holder_id = ?', [this.holderId]).catch((err: unknown) =>
      this.o.log.warn({ err }, 'could not remove this instance from lease_holders; its rows are taken over once its last renewal runs out'),
    );
  }
}
