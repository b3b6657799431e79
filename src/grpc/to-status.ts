import { status as Code, Metadata, type StatusObject } from '@grpc/grpc-js';
import { StoreFailure, storeFailureOf } from '../db/store-unavailable.js';
import { ApiError, ERROR_DOMAIN } from './api-error.js';
import { encodeStatusDetails } from './status-details.js';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** ErrorInfo reason when the database cannot be reached (the health service turns NOT_SERVING too). */
export const STORE_UNAVAILABLE_REASON = 'STORE_UNAVAILABLE';
/** ErrorInfo reason when the database is up but this statement lost to other work (lock wait, deadlock). */
export const STORE_BUSY_REASON = 'STORE_BUSY';

/**
 * RetryInfo for an unreachable store: about the time a restarted server takes to accept
 * connections again (a second locally), so well-behaved clients do not hammer it meanwhile.
 */
const STORE_UNAVAILABLE_RETRY_DELAY_MS = 1_000;
/** RetryInfo for a busy store: contention clears as soon as the competing transaction ends. */
const STORE_BUSY_RETRY_DELAY_MS = 200;

/**
 * A temporary store failure as the client sees it. The message is the same for reads and writes:
 * every mutating call carries an idempotency key, so retrying it is always safe.
 */
function storeError(failure: StoreFailure, cause: unknown): ApiError {
  return failure === StoreFailure.Unreachable
    ? ApiError.unavailable('the payments database is temporarily unavailable; retry with backoff (with the same idempotency key for a mutating call)', {
        reason: STORE_UNAVAILABLE_REASON,
        retryDelayMs: STORE_UNAVAILABLE_RETRY_DELAY_MS,
        cause,
      })
    : ApiError.unavailable('the payments database is busy with conflicting work; retry shortly (with the same idempotency key for a mutating call)', {
        reason: STORE_BUSY_REASON,
        retryDelayMs: STORE_BUSY_RETRY_DELAY_MS,
        cause,
      });
}

/**
 * The one place where a thrown value becomes a gRPC status. ApiErrors carry
 * their own code and client-facing message; a temporary store failure (as
 * classified by `storeFailureOf`, the one place that decides) becomes
 * UNAVAILABLE with an ErrorInfo reason and RetryInfo; anything else is a bug or
 * an outage we did not classify, and becomes INTERNAL with a generic message
 * (the caller logs the cause; the client never sees internals).
 */
export function toStatus(err: unknown): StatusObject & { known: boolean } {
  if (err instanceof ApiError) return statusOf(err);
  const failure = storeFailureOf(err);
  if (failure !== undefined) return statusOf(storeError(failure, err));
  return { code: Code.INTERNAL, details: 'internal error', metadata: new Metadata(), known: false };
}

function statusOf(err: ApiError): StatusObject & { known: boolean } {
  const metadata = new Metadata();
  if (err.reason !== undefined || err.retryDelayMs !== undefined) {
    metadata.set(
      STATUS_DETAILS_KEY,
      encodeStatusDetails({
        code: err.code,
        message: err.message,
        ...(err.reason !== undefined ? { errorInfo: { reason: err.reason, domain: ERROR_DOMAIN, metadata: err.metadata } } : {}),
        ...(err.retryDelayMs !== undefined ? { retryInfo: { retryDelayMs: err.retryDelayMs } } : {}),
      }),
    );
  }
  return { code: err.code, details: err.message, metadata, known: true };
}
