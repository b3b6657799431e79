/** The rows of the duplicate-charge benchmark: the naive strategies, the peer libraries and the product. */

export const STRATEGIES = ['check-then-insert', 'in-memory-cache', 'redis-get-then-set', 'powertools-redis', 'node-idempotency-redis', 'atomic-claim'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const PRODUCT: Strategy = 'atomic-claim';

export const LABELS: Record<Strategy, string> = {
  'check-then-insert': 'check-then-insert',
  'in-memory-cache': 'in-memory cache',
  'redis-get-then-set': 'Redis GET-then-SET',
  'powertools-redis': 'Powertools idempotency + Redis',
  'node-idempotency-redis': '@node-idempotency/core + Redis',
  'atomic-claim': 'atomic claim + fingerprint',
};

/** The strategies that need a Redis; skipped together when none can be had. */
export const REDIS_STRATEGIES: ReadonlySet<Strategy> = new Set(['redis-get-then-set', 'powertools-redis', 'node-idempotency-redis']);

/** What the design note this product comes from claims, for the table. */
export const DESIGN_NOTE: Record<Strategy, string> = {
  'check-then-insert': '18.4 %',
  'in-memory-cache': '4.2 %',
  'redis-get-then-set': '-',
  'powertools-redis': '-',
  'node-idempotency-redis': '-',
  'atomic-claim': '< 0.01 %',
};
