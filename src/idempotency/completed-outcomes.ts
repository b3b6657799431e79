import { scopedKey } from './idempotency-key.js';
import { type KeyRecord, KeyState } from './record.js';

/** An entry takes about 2.6 KB with a 300-byte response, at most about 6.5 KB: 26 to 65 MB per process. */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 10_000;
/** An entry ends this long before its row's expiry, so a database clock stepped forward cannot outrun it. */
export const EXPIRY_MARGIN_MS = 5_000;
/** Longest life of an entry: a row deleted by hand (not by its expiry) stops replaying from memory after this. */
export const MAX_ENTRY_AGE_MS = 60_000;
/** Outcomes bigger than this (body, message and trailers) are not kept: they are read from the database. */
export const MAX_KEPT_RESPONSE_BYTES = 4_096;
/**
 * Canonical requests up to this size are kept to match retries byte for byte;
 * a bigger one is left out and retries are compared by fingerprint.
 */
export const MAX_KEPT_REQUEST_BYTES = 1_024;

/** When a statement was sent, on both clocks an entry's life is counted on. */
export interface Stamp {
  /** Monotonic (never steps, but stands still while the host is suspended). */
  mono: number;
  /** Wall clock (advances through a suspend, but may be stepped). */
  wall: number;
}

export interface Clocks {
  mono: () => number;
  wall: () => number;
}

const SYSTEM_CLOCKS: Clocks = { mono: () => performance.now(), wall: () => Date.now() };

interface Entry {
  record: KeyRecord;
  sentAt: Stamp;
  lifeMs: number;
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
 * row as read (`expires_at - NOW(6)` of the same statement), less a margin,
 * and counted down from a moment taken *before* the statement was sent, so it
 * is never longer than the database's own. It is counted on both the
 * monotonic and the wall clock and ends at whichever runs out first: the
 * first cannot be stepped, the second keeps running while a host is
 * suspended. No clock is compared with the database's, so skew between hosts
 * does not matter.
 *
 * It never decides a claim. A key it does not hold goes to the database,
 * and only replays (and key-reuse refusals, which the stored fingerprint
 * decides) are answered from it, so instances stay interchangeable behind a
 * load balancer. Oldest entries are evicted first; 0 entries turns it off.
 * Each entry's bytes live in one exact-size allocation, so an entry never
 * pins a shared buffer pool block.
 */
export class CompletedOutcomes {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    private readonly clocks: Clocks = SYSTEM_CLOCKS,
    private readonly maxAgeMs = MAX_ENTRY_AGE_MS,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Take this before sending a statement whose row may be remembered. */
  stamp(): Stamp {
    return { mono: this.clocks.mono(), wall: this.clocks.wall() };
  }

  /** The completed record of the key, while it is certainly still stored and unexpired. */
  get(scope: string, key: string): KeyRecord | undefined {
    if (this.maxEntries === 0) return undefined;
    const id = scopedKey(scope, key);
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (this.alive(entry.sentAt, entry.lifeMs)) return entry.record;
    this.entries.delete(id);
    return undefined;
  }

  /**
   * Keeps a completed record: one read from the database, or the claimed row with the outcome
   * this process has just stored under its lease.
   * @param sentAt `stamp()` taken before the statement that returned the row (and its `NOW(6)`) was sent.
   */
  remember(record: KeyRecord, sentAt: Stamp): void {
    if (this.maxEntries === 0 || record.state !== KeyState.Completed || !record.response) return;
    const lifeMs = Math.min(this.maxAgeMs, record.expiresAt.getTime() - record.dbNow.getTime() - EXPIRY_MARGIN_MS);
    if (!this.alive(sentAt, lifeMs)) return;
    const kept = detached(record);
    if (!kept) return;
    const id = scopedKey(record.scope, record.key);
    this.entries.delete(id); // re-inserted last: eviction order is age order
    this.entries.set(id, { record: kept, sentAt, lifeMs });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  private alive(sentAt: Stamp, lifeMs: number): boolean {
    return this.clocks.mono() - sentAt.mono < lifeMs && this.clocks.wall() - sentAt.wall < lifeMs;
  }
}

/**
 * The record with its bytes copied into one allocation of their exact size
 * (the driver's buffers may be views of a larger network buffer, and small
 * `Buffer.from` copies share 8 KB pool blocks), or undefined when the
 * outcome is too big to keep. A big canonical request is left out: retries
 * are then compared by fingerprint.
 */
function detached(record: KeyRecord): KeyRecord | undefined {
  const response = record.response!;
  const body = response.body;
  const trailerBytes = response.trailers.reduce((n, [k, v]) => n + k.length + v.length, 0);
  if ((body?.length ?? 0) + Buffer.byteLength(response.message) + trailerBytes > MAX_KEPT_RESPONSE_BYTES) return undefined;
  const request = record.requestBody !== null && record.requestBody.length <= MAX_KEPT_REQUEST_BYTES ? record.requestBody : null;
  const parts = [record.fingerprint, request, body];
  const all = Buffer.allocUnsafeSlow(parts.reduce((n, p) => n + (p?.length ?? 0), 0));
  let offset = 0;
  const [fingerprint, requestBody, keptBody] = parts.map((p) => {
    if (p === null) return null;
    p.copy(all, offset);
    offset += p.length;
    return all.subarray(offset - p.length, offset);
  });
  return {
    ...record,
    fingerprint: fingerprint!,
    requestBody: requestBody ?? null,
    response: { ...response, body: keptBody ?? null },
  };
}
