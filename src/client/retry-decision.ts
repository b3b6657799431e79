import { status as Code } from '@grpc/grpc-js';
import type { PaymentsError } from './payments-error.js';

/** ErrorInfo reason of ABORTED: an attempt with the same key is still running on the server. */
export const KEY_IN_USE_REASON = 'IDEMPOTENCY_KEY_IN_USE';
/** ErrorInfo reason of RESOURCE_EXHAUSTED: the merchant's in-flight limit on that instance (nothing was claimed). */
const MERCHANT_LIMIT_REASON = 'MERCHANT_CONCURRENCY_LIMIT';

/**
 * Whether another attempt of the same call (same key, same request) may help. Only transient
 * states qualify; everything else is the final answer, in particular INVALID_ARGUMENT,
 * FAILED_PRECONDITION (IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_KEY_NEEDS_ATTENTION, a charge in the
 * wrong state), UNAUTHENTICATED and NOT_FOUND: sending them again gives the same answer.
 *
 * - UNAVAILABLE: the server or its store was unreachable, or the connection was lost mid-call
 *   (grpc-js reports a lost connection as UNAVAILABLE). With the same key a retry either replays
 *   what the first attempt did or does it for the first time, never twice.
 * - ABORTED with IDEMPOTENCY_KEY_IN_USE: the first attempt is still running; the retry waits for
 *   it and gets its result. Other ABORTED reasons are not known to be transient.
 * - RESOURCE_EXHAUSTED with MERCHANT_CONCURRENCY_LIMIT: the merchant has too many calls in
 *   flight on that instance; the call was refused before its key was claimed.
 * - DEADLINE_EXCEEDED of one attempt (`attemptTimedOut`), not of the whole call: the server may
 *   still be working, and the retry joins that work through the key.
 */
export function isRetryable(error: Pick<PaymentsError, 'code' | 'reason'>, attemptTimedOut: boolean): boolean {
  switch (error.code) {
    case Code.UNAVAILABLE:
      return true;
    case Code.ABORTED:
      return error.reason === KEY_IN_USE_REASON;
    case Code.RESOURCE_EXHAUSTED:
      // Refused before anything was claimed or sent (a merchant's in-flight limit, or too many
      // failed authentications from this address): the server asks for a later retry.
      return error.reason === MERCHANT_LIMIT_REASON;
    case Code.DEADLINE_EXCEEDED:
      return attemptTimedOut;
    default:
      return false;
  }
}
