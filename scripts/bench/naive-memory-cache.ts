import { setTimeout as delay } from 'node:timers/promises';
import { type NaiveDecision, NaiveKeyInUseError, type NaiveKeyStore, type NaiveTicket } from './naive-key-store.js';

/**
 * An in-progress entry whose call never completed nor abandoned it (a cancel
 * between the claim and the handler) is dropped after this long, like a lease;
 * long enough for a provider call, short enough that a stuck key heals.
 */
const IN_FLIGHT_LEASE_MS = 5_000;
/** Longest a duplicate waits for the in-flight call of its key before ABORTED (the product waits 10 s). */
const MAX_WAIT_MS = 10_000;
/** Bounds memory over a long run; far above the keys of one benchmark strategy. */
const MAX_ENTRIES = 1_000_000;

interface Entry {
  /** Resolves with the response, or undefined when the call failed and a retry may run. */
  result: Promise<Buffer | undefined>;
}

/**
 * A per-process cache with in-flight promises: within one process the check
 * and the insert happen in the same turn of the event loop, so local
 * duplicates wait for the first call and replay its answer. Other instances
 * know nothing of it, and a process restart forgets everything.
 */
export class InMemoryCacheStore implements NaiveKeyStore {
  private readonly entries = new Map<string, Entry>();

  async begin(scope: string, key: string): Promise<NaiveDecision> {
    const id = `${scope}\u0000${key}`;
    const until = Date.now() + MAX_WAIT_MS;
    for (;;) {
      const existing = this.entries.get(id);
      if (existing === undefined) return { kind: 'proceed', ticket: this.hold(id) };
      const remaining = until - Date.now();
      if (remaining <= 0) throw new NaiveKeyInUseError(`key ${key} is in progress`);
      const timeout = new AbortController();
      const body = await Promise.race([
        existing.result,
        delay(remaining, undefined, { signal: timeout.signal }).then(
          () => undefined,
          () => undefined,
        ),
      ]);
      timeout.abort();
      if (body !== undefined) return { kind: 'replay', body };
      // The first call failed (its entry is gone) or we waited long enough: look again.
    }
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private hold(id: string): NaiveTicket {
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    let settle: (body: Buffer | undefined) => void = () => undefined;
    const entry: Entry = { result: new Promise((resolve) => (settle = resolve)) };
    this.entries.set(id, entry);
    const abandon = (): void => {
      clearTimeout(lease);
      if (this.entries.get(id) === entry) this.entries.delete(id);
      settle(undefined);
    };
    const lease = setTimeout(abandon, IN_FLIGHT_LEASE_MS);
    lease.unref();
    return {
      complete: async (body) => {
        clearTimeout(lease);
        this.entries.set(id, { result: Promise.resolve(body) });
        settle(body);
      },
      abandon: async () => abandon(),
    };
  }
}
