import { Metadata, status as Code, type StatusObject } from '@grpc/grpc-js';
import { ApiError, ERROR_DOMAIN } from './api-error.js';
import { encodeStatusDetails } from './status-details.js';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/**
 * The one place where a thrown value becomes a gRPC status. ApiErrors carry
 * their own code and client-facing message; anything else is a bug or an
 * outage we did not classify, and becomes INTERNAL with a generic message
 * (the caller logs the cause; the client never sees internals).
 */
export function toStatus(err: unknown): StatusObject & { known: boolean } {
  if (err instanceof ApiError) {
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
  return { code: Code.INTERNAL, details: 'internal error', metadata: new Metadata(), known: false };
}
