import { isPermanentDataError } from '../db/permanent-errors.js';
import type { ClaimedRecord } from './claimed-record.js';
import type { IdempotencyStore } from './idempotency-store.js';
import { NeedsAttentionError } from './needs-attention-error.js';
import { isDefinitive } from './outcome.js';
import type { StoredResponse } from './record.js';

export type Settlement = 'completed' | 'fenced' | 'released' | 'kept' | 'parked';

/** attention_reason of an outcome the database refuses to store, whatever the retry. */
export const OUTCOME_NOT_STORABLE = 'outcome_not_storable';

/**
 * Applies the outcome table (DESIGN §3) to one attempt's result, fenced by its
 * lease version:
 *   definitive (OK, declines, validation, not found, ...)  → store it
 *   anything else, nothing external happened yet            → delete the row (retry runs anew)
 *   anything else, a side effect may have happened          → keep it in progress and end the
 *                                                            lease so a retry or the completer
 *                                                            resumes it with the same downstream key
 *   undecidable, or not storable, after a side effect       → park it in needs_attention: an
 *                                                            operator decides; nothing re-sends it
 * Throws when the store itself is unreachable: the row then stays in progress.
 */
export async function settle(store: IdempotencyStore, claim: ClaimedRecord, response: StoredResponse): Promise<Settlement> {
  if (claim.attentionReason === undefined && isDefinitive(response.code)) {
    try {
      const completion = await store.complete(claim.fence, response, claim.completionWrites, claim.terms.ttlSeconds);
      if (!completion) return 'fenced';
      claim.completed(completion);
      return 'completed';
    } catch (err) {
      // The same statement would fail on every retry, and re-running the
      // request would repeat its side effect each time: stop here.
      if (!isPermanentDataError(err)) throw err;
      claim.needsAttention(OUTCOME_NOT_STORABLE);
    }
  }
  if (claim.releasable) {
    return (await store.release(claim.fence)) ? 'released' : 'fenced';
  }
  if (claim.attentionReason !== undefined) {
    return (await store.park(claim.fence, claim.attentionReason)) ? 'parked' : 'fenced';
  }
  return (await store.abandon(claim.fence)) ? 'kept' : 'fenced';
}

/**
 * Notes on the claim what a handler's failure means for its row: a
 * NeedsAttentionError, or a storage error that no retry can get past (the
 * handler's own guarded writes), parks the row once a side effect may have
 * happened. Every path that runs a handler for a claim calls this with what it threw.
 */
export function noteHandlerFailure(claim: ClaimedRecord | undefined, err: unknown): void {
  if (!claim) return;
  if (err instanceof NeedsAttentionError) claim.needsAttention(err.reason);
  else if (isPermanentDataError(err)) claim.needsAttention(OUTCOME_NOT_STORABLE);
}
