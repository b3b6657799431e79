import type { ClaimedRecord } from './claimed-record.js';
import type { IdempotencyStore } from './idempotency-store.js';
import { isDefinitive } from './outcome.js';
import type { StoredResponse } from './record.js';

export type Settlement = 'completed' | 'fenced' | 'released' | 'kept';

/**
 * Applies the outcome table (DESIGN §3) to one attempt's result, fenced by its
 * lease version:
 *   definitive (OK, declines, validation, not found, ...)  → store it
 *   anything else, nothing external happened yet            → delete the row (retry runs anew)
 *   anything else, a side effect may have happened          → keep it in progress and end the
 *                                                            lease so a retry or the completer
 *                                                            resumes it with the same downstream key
 * Throws when the store itself fails: the row then stays in progress.
 */
export async function settle(store: IdempotencyStore, claim: ClaimedRecord, response: StoredResponse): Promise<Settlement> {
  if (isDefinitive(response.code)) {
    return (await store.complete(claim.fence, response, claim.completionWrites)) ? 'completed' : 'fenced';
  }
  if (claim.releasable) {
    return (await store.release(claim.fence)) ? 'released' : 'fenced';
  }
  return (await store.abandon(claim.fence)) ? 'kept' : 'fenced';
}
