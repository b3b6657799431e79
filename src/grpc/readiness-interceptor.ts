import { status as Code, type Metadata, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { decodeStatusDetails } from './status-details.js';
import { STATUS_DETAILS_KEY, STORE_UNAVAILABLE_REASON } from './to-status.js';

/**
 * ErrorInfo reasons that say a call could not reach the store: the handlers' (from toStatus)
 * and the idempotency interceptor's. The latter also covers store errors that are not outages,
 * which is harmless: a suspicion only asks for a probe, and the probe decides.
 */
const UNREACHABLE_STORE_REASONS: ReadonlySet<string> = new Set([STORE_UNAVAILABLE_REASON, 'IDEMPOTENCY_UNAVAILABLE']);

function reasonOf(metadata: Metadata | null | undefined): string | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  return raw instanceof Buffer ? decodeStatusDetails(raw).errorInfo?.reason : undefined;
}

/**
 * Watches every call's final status (it goes first in the chain, so it sees the statuses that
 * the auth and idempotency interceptors send themselves as well as the handlers') and calls
 * `onUnreachableStore` when one says the store could not be reached. It never changes a call.
 */
export function readinessInterceptor(onUnreachableStore: () => void): ServerInterceptor {
  return (_method, call) =>
    new ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        try {
          if (status.code === Code.UNAVAILABLE && UNREACHABLE_STORE_REASONS.has(reasonOf(status.metadata) ?? '')) onUnreachableStore();
        } catch {
          // An observer must never break the call it watches (a throw here would end the process).
        }
        next(status);
      },
    });
}
