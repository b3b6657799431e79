/**
 * One server process of the cost benchmark: the real startServer, with or
 * without the idempotency interceptor (without: each call runs with a
 * PlainClaim, see plain-claim.ts), plus a counter of database round
 * trips (every query sent on a connection, a multi-statement batch counting
 * once) and of bytes allocated on its JS heap. Prints {"port":...,"counters":...}
 * as one JSON line when ready.
 *
 *   tsx scripts/bench/throughput-server.ts --mysql-url URL --provider-url URL --provider-key KEY [--plain | --replay-cache-entries N]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { createPool, type Pool } from '../../src/db/pool.js';
import { createLogger } from '../../src/logger.js';
import { ChargeRepository } from '../../src/payments/charge-repository.js';
import { ProviderClient } from '../../src/provider/provider-client.js';
import { startServer } from '../../src/server.js';
import { withPlainClaim } from './plain-claim.js';

let roundTrips = 0;

/**
 * Bytes allocated on the JS heap so far: the growth of the used heap between
 * collections (from V8's GC profiler) plus the growth since the last one.
 */
const heap = { allocated: 0, lastUsed: v8.getHeapStatistics().used_heap_size, profiler: new v8.GCProfiler() };
heap.profiler.start();
function allocatedBytes(): number {
  for (const gc of heap.profiler.stop().statistics) {
    heap.allocated += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - heap.lastUsed);
    heap.lastUsed = gc.afterGC.heapStatistics.usedHeapSize;
  }
  heap.profiler = new v8.GCProfiler();
  heap.profiler.start();
  const used = v8.getHeapStatistics().used_heap_size;
  heap.allocated += Math.max(0, used - heap.lastUsed);
  heap.lastUsed = used;
  return heap.allocated;
}

/**
 * Counts at the driver: each call of a connection's query() is one round trip.
 * The method is patched on the prototype that defines it, found from a live
 * pooled connection (mysql2 does not export its connection class).
 */
async function countRoundTrips(pool: Pool): Promise<void> {
  const conn = await pool.getConnection();
  let proto: object | null = (conn as unknown as { connection: object }).connection;
  conn.release();
  while (proto && !Object.hasOwn(proto, 'query')) proto = Object.getPrototypeOf(proto) as object | null;
  if (!proto) throw new Error('cannot find the driver query method');
  // A prepared statement's execution is one round trip too (its PREPARE, once per connection, is not counted).
  const target = proto as { query: (...args: unknown[]) => unknown; execute: (...args: unknown[]) => unknown };
  const query = target.query;
  const execute = target.execute;
  target.query = function (this: unknown, ...args: unknown[]) {
    roundTrips++;
    return query.apply(this, args);
  };
  target.execute = function (this: unknown, ...args: unknown[]) {
    roundTrips++;
    return execute.apply(this, args);
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'mysql-url': { type: 'string' },
      'provider-url': { type: 'string' },
      'provider-key': { type: 'string' },
      plain: { type: 'boolean', default: false },
      'replay-cache-entries': { type: 'string' },
    },
  });
  const pool = createPool(values['mysql-url']!, 64);
  await countRoundTrips(pool);
  const provider = new ProviderClient({ baseUrl: values['provider-url']!, secretKey: values['provider-key']! });
  const running = await startServer({
    pool,
    provider,
    log: createLogger('warn'),
    listen: '127.0.0.1:0',
    ttlSeconds: 86_400,
    leaseSeconds: 30,
    inFlightWaitMs: 10_000,
    // One merchant's ceiling is what this measures: the per-merchant fairness limit stays out of the way.
    maxInFlightPerMerchant: 1_000_000,
    ...(values.plain ? { withoutIdempotency: withPlainClaim(new ChargeRepository(pool)) } : {}),
    ...(values['replay-cache-entries'] !== undefined ? { replayCacheEntries: Number(values['replay-cache-entries']) } : {}),
  });
  const counters = http.createServer((_req, res) => res.end(JSON.stringify({ roundTrips, allocatedBytes: allocatedBytes() })));
  await new Promise<void>((resolve) => counters.listen(0, '127.0.0.1', resolve));
  const address = counters.address();
  process.stdout.write(`${JSON.stringify({ port: running.port, counters: typeof address === 'object' && address ? address.port : 0 })}\n`);
  const stop = (): void => {
    void running
      .shutdown(1000)
      .then(() => pool.end())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
