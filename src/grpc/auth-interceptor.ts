import { Metadata, ServerInterceptingCall, status as Code, type ServerInterceptor } from '@grpc/grpc-js';
import { errorLogFields } from '../db/driver-error.js';
import type { Logger } from '../logger.js';
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

export type Authenticate = (apiKey: string) => Promise<string | undefined>;

/** Positive lookups are cached this long; revoking a key takes effect within this time. */
const AUTH_CACHE_TTL_MS = 30_000;
/** Bounds the cache so a flood of keys cannot grow memory. */
const AUTH_CACHE_MAX_ENTRIES = 10_000;

/** Services that answer without an API key (load balancers and tooling call them). */
const PUBLIC_SERVICE_PREFIXES = ['/grpc.health.v1.', '/grpc.reflection.'];

/**
 * Authenticates `authorization: Bearer <api key>` against hashed keys in
 * MySQL. It runs first, so the idempotency interceptor after it can scope
 * keys by merchant. Unknown, missing or malformed keys → UNAUTHENTICATED; a
 * lookup the database cannot answer → UNAVAILABLE (through toStatus).
 */
export function authInterceptor(authenticate: Authenticate, log: Logger): ServerInterceptor {
  const cache = new Map<string, { merchantId: string; until: number }>();

  async function lookup(apiKey: string): Promise<string | undefined> {
    const hit = cache.get(apiKey);
    if (hit && hit.until > Date.now()) return hit.merchantId;
    const merchantId = await authenticate(apiKey);
    if (merchantId !== undefined) {
      if (cache.size >= AUTH_CACHE_MAX_ENTRIES) cache.clear();
      cache.set(apiKey, { merchantId, until: Date.now() + AUTH_CACHE_TTL_MS });
    }
    return merchantId;
  }

  return (methodDescriptor, call) => {
    if (PUBLIC_SERVICE_PREFIXES.some((p) => methodDescriptor.path.startsWith(p))) {
      return new ServerInterceptingCall(call);
    }
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            const reject = (details: string): void =>
              call.sendStatus({ code: Code.UNAUTHENTICATED, details, metadata: new Metadata() });
            const values = metadata.get('authorization');
            if (values.length === 0) return reject('missing API key: send metadata "authorization: Bearer <api key>"');
            const match = values.length === 1 ? /^Bearer ([\x21-\x7e]{1,200})$/i.exec(String(values[0])) : null;
            if (!match?.[1]) return reject('malformed authorization metadata: expected exactly one "Bearer <api key>"');
            lookup(match[1]).then(
              (merchantId) => {
                if (merchantId === undefined) return reject('unknown or revoked API key');
                merchants.set(metadata, merchantId);
                mdNext(metadata);
              },
              (err: unknown) => {
                // The key could not be checked, which says nothing about the key: a database
                // outage is UNAVAILABLE (retry), never UNAUTHENTICATED; anything else is a bug.
                // Logged by codes only: the failed statement carries the key's hash.
                const status = toStatus(err);
                if (!status.known) log.error({ ...errorLogFields(err), method: methodDescriptor.path }, 'authentication lookup failed');
                call.sendStatus({ code: status.code, details: status.details, metadata: status.metadata });
              },
            );
          },
        });
      },
    });
  };
}
