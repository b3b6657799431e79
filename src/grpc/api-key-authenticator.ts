/**
 * Where the interceptor finds a key's merchant: `cached` answers from memory (no I/O) and is
 * asked first; `lookup` may reach the database and is asked only for keys `cached` does not
 * know. ApiKeyIndex (src/merchants/api-key-index.ts) is the one the server uses.
 */
export interface ApiKeyAuthenticator {
  cached(apiKey: string): string | undefined;
  lookup(apiKey: string): Promise<string | undefined>;
}
