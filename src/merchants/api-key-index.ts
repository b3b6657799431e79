import { setTimeout as delay } from 'node:timers/promises';
import type { Pool } from '../db/pool.js';
import { query } from '../db/query.js';
import type { ApiKeyAuthenticator } from '../grpc/api-key-authenticator.js';
import { hashApiKey } from './merchant-store.js';

/**
 * Every active key is read again at least this often, so a key revoked (or created) by another
 * process, such as the merchants command, is refused (or accepted) within this bound plus one
 * refresh's duration. A refresh reads only the keys created or revoked since the previous one.
 */
export const API_KEY_REFRESH_INTERVAL_MS = 5_000;

/**
 * A key the index does not know asks for a refresh (it may have been created a moment ago), but
 * refreshes start at most this often however many unknown keys arrive: a flood of random keys
 * costs at most 1000 / 100 = 10 small statements per second in all, instead of one per call.
 * A genuinely new key waits at most this long plus one refresh on its first call.
 */
export const MISS_REFRESH_MIN_INTERVAL_MS = 100;

/**
 * Rows changed this long before the previous refresh started are read again by the next one.
 * `created_at` and `revoked_at` are set when the statement runs, not when its transaction
 * commits, so a row can become visible after a refresh that started later than its timestamp;
 * creating or revoking a key commits well within this margin.
 */
const REFRESH_OVERLAP_SECONDS = 60;

/**
 * A full reload (which also forgets rows deleted by hand, not revoked) replaces the incremental
 * refresh this often. It reads every active key, so it stays rare.
 */
const FULL_RELOAD_INTERVAL_MS = 10 * 60_000;

interface KeyRow {
  key_hash: Buffer;
  merchant_id: string;
  revoked: number | string;
}

/**
 * The hashes of all active API keys, held in memory, so that authenticating a call costs no
 * database work, and a random or forged key costs none either: a key the index does not know is
 * refused after at most one shared, rate-limited refresh (MISS_REFRESH_MIN_INTERVAL_MS).
 *
 * Memory: about 150 bytes per active key (a 44-character hash string and a merchant id).
 *
 * Consistency with the database: loaded before the first call is answered, refreshed every
 * API_KEY_REFRESH_INTERVAL_MS and whenever an unknown key arrives (rate limited). A revoked key
 * stops working within API_KEY_REFRESH_INTERVAL_MS plus one refresh; `refresh()` after a create
 * or revoke in this process makes it take effect at once.
 */
export class ApiKeyIndex implements ApiKeyAuthenticator {
  private readonly merchants = new Map<string, string>();
  private loaded = false;
  /** The database clock when the last successful refresh started (its rows are read from then on). */
  private since: Date | undefined;
  private lastFullReloadAt = 0;
  private lastStartAt = Number.NEGATIVE_INFINITY;
  private current: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private statements = 0;

  constructor(
    private readonly pool: Pool,
    private readonly onRefreshError: (err: unknown) => void = () => {},
  ) {}

  /**
   * Loads the index (a failure is not thrown: calls then ask for the load themselves, and are
   * answered UNAVAILABLE while the database is down) and starts the periodic refresh.
   */
  async start(): Promise<void> {
    await this.refresh().catch((err: unknown) => this.onRefreshError(err));
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.onRefreshError(err));
    }, API_KEY_REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The merchant of a key the index holds, without any I/O; undefined when it does not hold it. */
  cached(apiKey: string): string | undefined {
    if (!this.loaded) return undefined;
    return this.merchants.get(hashApiKey(apiKey).toString('base64'));
  }

  /**
   * The merchant of a key after a refresh that started after this call (so a key committed
   * before the call is found), or undefined for an unknown or revoked key. Rejects with the
   * database's error when that refresh failed.
   */
  async lookup(apiKey: string): Promise<string | undefined> {
    const hit = this.cached(apiKey);
    if (hit !== undefined) return hit;
    await this.refresh();
    return this.merchants.get(hashApiKey(apiKey).toString('base64'));
  }

  /** Active keys held. */
  get size(): number {
    return this.merchants.size;
  }

  /** Statements sent to the database so far (for tests and the benchmark). */
  get statementCount(): number {
    return this.statements;
  }

  /**
   * Resolves once a refresh that starts after this call has finished. Calls made while one
   * waits to start share it, and refreshes start at most every MISS_REFRESH_MIN_INTERVAL_MS,
   * one at a time.
   */
  refresh(): Promise<void> {
    if (this.next !== undefined) return this.next;
    const previous = this.current ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const wait = this.lastStartAt + MISS_REFRESH_MIN_INTERVAL_MS - performance.now();
        if (wait > 0) await delay(wait);
        // From here on, a new request must wait for a refresh that starts after this one.
        this.next = undefined;
        this.lastStartAt = performance.now();
        const running = this.runRefresh();
        this.current = running;
        return running;
      });
    this.next = next;
    return next;
  }

  private async runRefresh(): Promise<void> {
    const full = !this.loaded || this.since === undefined || performance.now() - this.lastFullReloadAt >= FULL_RELOAD_INTERVAL_MS;
    this.statements++;
    // One round trip: the database clock first, then the rows, so a row committed after the
    // clock was read is either in this result or read again by the next refresh (the overlap).
    const results = full
      ? await query<[Array<{ now: Date }>, KeyRow[]]>(
          this.pool,
          'SELECT NOW(6) AS now; SELECT key_hash, merchant_id, 0 AS revoked FROM api_keys WHERE revoked_at IS NULL',
          [],
        )
      : await query<[Array<{ now: Date }>, KeyRow[]]>(
          this.pool,
          'SELECT NOW(6) AS now; SELECT key_hash, merchant_id, revoked_at IS NOT NULL AS revoked FROM api_keys ' +
            'WHERE created_at >= ? - INTERVAL ? SECOND OR revoked_at >= ? - INTERVAL ? SECOND',
          [this.since, REFRESH_OVERLAP_SECONDS, this.since, REFRESH_OVERLAP_SECONDS],
        );
    const [clock, rows] = results;
    if (full) {
      this.merchants.clear();
      this.lastFullReloadAt = performance.now();
    }
    for (const row of rows) {
      const hash = row.key_hash.toString('base64');
      if (Number(row.revoked) === 0) this.merchants.set(hash, row.merchant_id);
      else this.merchants.delete(hash);
    }
    this.since = clock[0]?.now;
    this.loaded = true;
  }
}
