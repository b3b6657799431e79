import type { ApiKeyAuthenticator } from './api-key-authenticator.js';

/** Positive lookups are cached this long. */
const POSITIVE_CACHE_TTL_MS = 30_000;
/** Bounds the cache so a flood of keys cannot grow memory. */
const POSITIVE_CACHE_MAX_ENTRIES = 10_000;

/**
 * Looks every key it has not seen succeed up with `authenticate` (one database statement per
 * call with an unknown key) and caches successes. This was the service's only way before the
 * in-memory ApiKeyIndex; it remains for callers that authenticate against something other than
 * the api_keys table (test servers with a fixed key, the naive benchmark servers) and as the
 * undefended baseline of the abuse benchmark.
 */
export class PerCallKeyLookup implements ApiKeyAuthenticator {
  private readonly cache = new Map<string, { merchantId: string; until: number }>();

  constructor(private readonly authenticate: (apiKey: string) => Promise<string | undefined>) {}

  cached(apiKey: string): string | undefined {
    const hit = this.cache.get(apiKey);
    return hit !== undefined && hit.until > Date.now() ? hit.merchantId : undefined;
  }

  async lookup(apiKey: string): Promise<string | undefined> {
    const merchantId = await this.authenticate(apiKey);
    if (merchantId !== undefined) {
      if (this.cache.size >= POSITIVE_CACHE_MAX_ENTRIES) this.cache.clear();
      this.cache.set(apiKey, { merchantId, until: Date.now() + POSITIVE_CACHE_TTL_MS });
    }
    return merchantId;
  }
}
