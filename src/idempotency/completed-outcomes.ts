import { KeyState, type IdempotencyRecord } from './record.js';

/** About 25 MB per process: an entry with a 300-byte response takes about 2.5 KB (row fields, request and response). */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 10_000;
/** An entry ends this long before its row's expiry, so a database clock stepped forward cannot outrun it. */
export const EXPIRY_MARGIN_MS = 5_000;
/** Longest life of an entry: a row deleted by hand (not by its expiry) stops replaying from memory after this. */
export const MAX_ENTRY_AGE_MS = 60_000;

interface Entry {
  record: IdempotencyRecord;
  /** On the monotonic clock (`now`). */
  validUntil: number;
}

/**
 * Completed outcomes this process has stored (as a key's leader) or read
 * from the database (for a retry), so that further retries of the same key
 * replay without a database read.
 *
 * Sound because a completed row never changes while it can be replayed: no
 * statement updates a completed row, and the only statements that delete one
 * require `expires_at <= NOW(6)`. An entry therefore stays true until the
 * row's expiry by the database clock. That remaining time is taken from the
 * row as read (`expires_at - NOW(6)` of the same statement) and counted down
 * on this process's monotonic clock from a moment taken *before* the read
 * was sent, so it is never longer than the database's own: no wall clock of
 * this machine is involved, and skew between hosts does not matter.
 *
 * It never decides a claim. A key it does not hold goes to the database,
 * and only replays (and key-reuse refusals, which the stored fingerprint
 * decides) are answered from it, so instances stay interchangeable behind a
 * load balancer. Oldest entries are evicted first; 0 entries turns it off.
 */
export class CompletedOutcomes {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    /** The monotonic clock entries are timed on; callers take `readSentAt` from it. */
    readonly now: () => number = () => performance.now(),
    private readonly maxAgeMs = MAX_ENTRY_AGE_MS,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The completed record of the key, while it is certainly still stored and unexpired. */
  get(scope: string, key: string): IdempotencyRecord | undefined {
    if (this.maxEntries === 0) return undefined;
    const id = entryId(scope, key);
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (this.now() < entry.validUntil) return entry.record;
    this.entries.delete(id);
    return undefined;
  }

  /**
   * Keeps a completed record: one read from the database, or the claimed row with the outcome
   * this process has just stored under its lease.
   * @param readSentAt `now()` taken before the statement that returned the row (and its `NOW(6)`) was sent.
   */
  remember(record: IdempotencyRecord, readSentAt: number): void {
    if (this.maxEntries === 0 || record.state !== KeyState.Completed || !record.response) return;
    const remainingMs = record.expiresAt.getTime() - record.dbNow.getTime() - EXPIRY_MARGIN_MS;
    if (remainingMs <= 0) return;
    const id = entryId(record.scope, record.key);
    this.entries.delete(id); // re-inserted last: eviction order is age order
    this.entries.set(id, { record: detached(record), validUntil: readSentAt + Math.min(this.maxAgeMs, remainingMs) });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}

/** Scope and key cannot contain NUL (keys are printable ASCII, scopes are merchant ids). */
function entryId(scope: string, key: string): string {
  return `${scope}\u0000${key}`;
}

/** The driver's buffers may be views of a larger network buffer: keep own copies, not the whole packet. */
function detached(record: IdempotencyRecord): IdempotencyRecord {
  const response = record.response!;
  return {
    ...record,
    fingerprint: Buffer.from(record.fingerprint),
    requestBody: record.requestBody ? Buffer.from(record.requestBody) : null,
    response: { ...response, body: response.body ? Buffer.from(response.body) : null, trailers: response.trailers },
  };
}
