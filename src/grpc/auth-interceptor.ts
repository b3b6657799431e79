import { status as Code, type Metadata, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { createLogger, type Logger } from '../logger.js';
import { ApiError } from './api-error.js';
import type { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { type PeerFailureLimiter, peerKey } from './peer-failure-limiter.js';
import { PerCallKeyLookup } from './per-call-key-lookup.js';
import { toStatus } from './to-status.js';

/**
 * The authenticated merchant of a call. Kept in a WeakMap keyed by the call's
 * Metadata object, which grpc-js hands unchanged from the interceptors to the
 * handler: a client can send any header it likes, but it cannot put an entry
 * in this map, so the merchant cannot be forged.
 */
const merchants = new WeakMap<Metadata, string>();

export function merchantOf(metadata: Metadata): string | undefined {
  return merchants.get(metadata);
}

export type { ApiKeyAuthenticator };

export type Authenticate = (apiKey: string) => Promise<string | undefined>;

export interface AuthInterceptorOptions {
  keys: ApiKeyAuthenticator;
  /** Limits unknown keys per client address; undefined means no limit (only the benchmark's baseline). */
  failureLimiter?: PeerFailureLimiter;
  log: Logger;
}

/** ErrorInfo reason when a client address sent too many unknown API keys. */
export const AUTHENTICATION_RATE_LIMITED_REASON = 'AUTHENTICATION_RATE_LIMITED';

/** Services that answer without an API key (load balancers and tooling call them). */
const PUBLIC_SERVICE_PREFIXES = ['/grpc.health.v1.', '/grpc.reflection.'];

/**
 * Authenticates `authorization: Bearer <api key>` against the hashes of the active keys, which
 * `keys` holds in memory: a known key costs no I/O, and a random or malformed one costs none
 * either (a key the index does not know shares a rate-limited refresh with every other such
 * call). A key still unknown after that refresh takes a token from its address's bucket; an
 * address out of tokens has its unknown keys answered RESOURCE_EXHAUSTED with RetryInfo before
 * any lookup. It runs first, so the
 * interceptors after it can scope work by merchant. Unknown, missing or malformed keys →
 * UNAUTHENTICATED; a lookup the database cannot answer → UNAVAILABLE (through toStatus).
 */
export function authInterceptor(o: AuthInterceptorOptions): ServerInterceptor;
/** Looks every unknown key up with `authenticate`, with no limit per address (PerCallKeyLookup). */
export function authInterceptor(authenticate: Authenticate, log: Logger): ServerInterceptor;
export function authInterceptor(options: AuthInterceptorOptions | Authenticate, legacyLog?: Logger): ServerInterceptor {
  const o: AuthInterceptorOptions = typeof options === 'function' ? { keys: new PerCallKeyLookup(options), log: legacyLog ?? createLogger('silent') } : options;
  const { keys, failureLimiter, log } = o;
  return (methodDescriptor, call) => {
    if (PUBLIC_SERVICE_PREFIXES.some((p) => methodDescriptor.path.startsWith(p))) {
      return new ServerInterceptingCall(call);
    }
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            const answer = (err: unknown): void => {
              const status = toStatus(err);
              // Logged by codes only: the failed statement carries key hashes.
              if (!status.known) log.error({ err, method: methodDescriptor.path }, 'authentication lookup failed');
              call.sendStatus({ code: status.code, details: status.details, metadata: status.metadata });
            };
            const reject = (details: string): void => answer(ApiError.unauthenticated(details));
            const accept = (merchantId: string): void => {
              merchants.set(metadata, merchantId);
              mdNext(metadata);
            };
            try {
              const values = metadata.get('authorization');
              if (values.length === 0) return reject('missing API key: send metadata "authorization: Bearer <api key>"');
              const match = values.length === 1 ? /^Bearer ([\x21-\x7e]{1,200})$/i.exec(String(values[0])) : null;
              if (!match?.[1]) return reject('malformed authorization metadata: expected exactly one "Bearer <api key>"');
              const apiKey = match[1];
              const known = keys.cached(apiKey);
              if (known !== undefined) return accept(known);
              const peer = failureLimiter ? peerKey(call.getConnectionInfo().remoteAddress) : '';
              const waitMs = failureLimiter?.waitMs(peer) ?? 0;
              if (waitMs > 0) {
                return answer(
                  new ApiError(Code.RESOURCE_EXHAUSTED, 'too many unknown API keys from this address; retry after the delay in RetryInfo with a valid key', {
                    reason: AUTHENTICATION_RATE_LIMITED_REASON,
                    retryDelayMs: waitMs,
                  }),
                );
              }
              keys.lookup(apiKey).then(
                (merchantId) => {
                  if (merchantId !== undefined) return accept(merchantId);
                  failureLimiter?.failed(peer);
                  reject('unknown or revoked API key');
                },
                // The key could not be checked, which says nothing about the key: a database
                // outage is UNAVAILABLE (retry), never UNAUTHENTICATED; anything else is a bug.
                (err: unknown) => answer(err),
              );
            } catch (err) {
              // A throw inside an interceptor callback would end the process.
              answer(err);
            }
          },
        });
      },
    });
  };
}
