import { status as Code, type Metadata, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from '../logger.js';
import { ApiError } from './api-error.js';
import { toStatus } from './to-status.js';

/** ErrorInfo reason when a merchant already has its limit of calls in flight on this instance. */
export const MERCHANT_CONCURRENCY_LIMIT_REASON = 'MERCHANT_CONCURRENCY_LIMIT';

/**
 * In-flight calls one merchant may have on one instance (PAYMENTS_MAX_IN_FLIGHT_PER_MERCHANT).
 * Twice the database pool (32 connections), so a single merchant can keep every connection busy
 * when nobody else calls, and the calls of all other merchants still find room beside it.
 */
export const DEFAULT_MAX_IN_FLIGHT_PER_MERCHANT = 64;

/**
 * RetryInfo of a refusal: about one provider round trip, the time in which calls in flight
 * usually end and free a place.
 */
const CONCURRENCY_RETRY_DELAY_MS = 250;

export interface MerchantConcurrencyOptions {
  /** The authenticated merchant of a call (set by the auth interceptor, which runs before). */
  merchantOf: (metadata: Metadata) => string | undefined;
  maxInFlight: number;
  log: Logger;
}

/**
 * Counts each merchant's calls in flight and refuses a call beyond `maxInFlight` with
 * RESOURCE_EXHAUSTED (ErrorInfo MERCHANT_CONCURRENCY_LIMIT, RetryInfo), so that one merchant
 * flooding new idempotency keys cannot take every database connection and provider slot from
 * the others.
 *
 * It sits after authentication (it needs the merchant) and before the idempotency interceptor,
 * so a refused call never reaches it: no key is claimed and nothing is stored for it, and the
 * same key can be sent again later. A place is taken when the metadata passes and given back
 * once, at the first of the call's status going out or its end: grpc-js calls onCancel at the
 * end of every call, successful ones included, and for calls that died inside grpc-js (deadline,
 * message too large) onCancel is the only signal.
 *
 * Work that goes on after its client has gone (the idempotency leader finishes a charge whose
 * caller cancelled) no longer counts; it is bounded by the lease and the provider timeout.
 */
export function merchantConcurrencyInterceptor(o: MerchantConcurrencyOptions): ServerInterceptor {
  const inFlight = new Map<string, number>();

  const release = (merchant: string): void => {
    const left = (inFlight.get(merchant) ?? 1) - 1;
    if (left <= 0) inFlight.delete(merchant);
    else inFlight.set(merchant, left);
  };

  return (_method, call) => {
    let holder: string | undefined;
    const done = (): void => {
      if (holder === undefined) return;
      const merchant = holder;
      holder = undefined;
      release(merchant);
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            try {
              const merchant = o.merchantOf(metadata);
              // Unauthenticated calls never get here; public services (health, reflection) have no merchant.
              if (merchant === undefined) return mdNext(metadata);
              const current = inFlight.get(merchant) ?? 0;
              if (current >= o.maxInFlight) {
                const status = toStatus(
                  new ApiError(
                    Code.RESOURCE_EXHAUSTED,
                    `too many calls in flight for this merchant (at most ${o.maxInFlight} per server instance); retry after the delay in RetryInfo with the same idempotency key`,
                    { reason: MERCHANT_CONCURRENCY_LIMIT_REASON, retryDelayMs: CONCURRENCY_RETRY_DELAY_MS, metadata: { limit: String(o.maxInFlight) } },
                  ),
                );
                return call.sendStatus({ code: status.code, details: status.details, metadata: status.metadata });
              }
              inFlight.set(merchant, current + 1);
              holder = merchant;
              mdNext(metadata);
            } catch (err) {
              // A throw inside an interceptor callback would end the process.
              done();
              o.log.error({ err }, 'merchant concurrency interceptor failed');
              call.sendStatus({ code: Code.INTERNAL, details: 'internal error' });
            }
          },
          onCancel: () => done(),
        });
      },
      sendStatus: (status, next) => {
        done();
        next(status);
      },
    });
  };
}
