/**
 * One server process of the retention soak: the real startServer with a short key TTL and its
 * reaper running, plus an HTTP endpoint that lists the reaper's passes (start, end, rows
 * deleted; epoch milliseconds), so the soak can tell claims made during a pass from the rest.
 * Prints {"port":...,"passes":...} as one JSON line when ready.
 *
 *   tsx scripts/bench/retention-server.ts --mysql-url URL --provider-url URL --provider-key KEY --ttl-seconds 10 --reaper-interval-ms 5000
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createPool } from '../../src/db/pool.js';
import { MysqlIdempotencyStore } from '../../src/idempotency/mysql-idempotency-store.js';
import { Reaper } from '../../src/idempotency/reaper.js';
import { createLogger } from '../../src/logger.js';
import { ProviderClient } from '../../src/provider/provider-client.js';
import { startServer } from '../../src/server.js';

export interface ReaperPass {
  startMs: number;
  endMs: number;
  deleted: number;
}

/** The soak's lease: short, like its TTL, which the service requires to be longer. */
const LEASE_SECONDS = 2;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'mysql-url': { type: 'string' },
      'provider-url': { type: 'string' },
      'provider-key': { type: 'string' },
      'ttl-seconds': { type: 'string' },
      'reaper-interval-ms': { type: 'string' },
      // An experiment, not the product: the service's reaper logic with another batch size.
      'reaper-batch': { type: 'string' },
    },
  });
  const pool = createPool(values['mysql-url']!, 64);
  const provider = new ProviderClient({ baseUrl: values['provider-url']!, secretKey: values['provider-key']! });
  const running = await startServer({
    pool,
    provider,
    log: createLogger('warn'),
    listen: '127.0.0.1:0',
    ttlSeconds: Number(values['ttl-seconds']),
    leaseSeconds: LEASE_SECONDS,
    inFlightWaitMs: 10_000,
    // One merchant at the service's maximum rate: the per-merchant fairness limit stays out of the way.
    maxInFlightPerMerchant: 1_000_000,
    reaperIntervalMs: values['reaper-batch'] === undefined ? Number(values['reaper-interval-ms']) : 0,
    // No background completer: nothing is left in progress in a soak without faults.
    completerIntervalMs: 0,
  });
  const reaper =
    values['reaper-batch'] === undefined
      ? running.reaper
      : new Reaper({
          store: new MysqlIdempotencyStore(pool),
          batchSize: Number(values['reaper-batch']),
          intervalMs: Number(values['reaper-interval-ms']),
          log: createLogger('warn'),
        });
  if (!reaper) throw new Error('the reaper did not start');
  const passes: ReaperPass[] = [];
  // The periodic task calls runOnce() on the instance: wrapping it there times every pass.
  const runOnce = reaper.runOnce.bind(reaper);
  reaper.runOnce = async () => {
    const startMs = Date.now();
    const deleted = await runOnce();
    passes.push({ startMs, endMs: Date.now(), deleted });
    return deleted;
  };
  if (values['reaper-batch'] !== undefined) reaper.start();
  const endpoint = http.createServer((_req, res) => res.end(JSON.stringify(passes)));
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  const address = endpoint.address();
  process.stdout.write(`${JSON.stringify({ port: running.port, passes: typeof address === 'object' && address ? address.port : 0 })}\n`);
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
