/**
 * One server process of the abuse benchmark: the real startServer, defended (the default) or
 * with the defences switched off (`--undefended`: every unknown API key looked up in the
 * database, no limit per address, no limit per merchant), plus a counter of database
 * statements (every query sent on a connection) served over HTTP. Prints
 * {"port":...,"counters":...} as one JSON line when ready.
 *
 *   tsx scripts/bench/abuse-server.ts --mysql-url URL --provider-url URL --provider-key KEY [--undefended] [--max-in-flight N]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createPool } from '../../src/db/pool.js';
import { PerCallKeyLookup } from '../../src/grpc/per-call-key-lookup.js';
import { createLogger } from '../../src/logger.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { ProviderClient } from '../../src/provider/provider-client.js';
import { startServer } from '../../src/server.js';
import { countStatements } from '../../test/support/statement-counter.js';

/** With the defences off, the per-merchant limit is this high: in effect none. */
const NO_LIMIT = 1_000_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'mysql-url': { type: 'string' },
      'provider-url': { type: 'string' },
      'provider-key': { type: 'string' },
      undefended: { type: 'boolean', default: false },
      'max-in-flight': { type: 'string' },
    },
  });
  const pool = createPool(values['mysql-url']!);
  const statements = await countStatements(pool);
  const provider = new ProviderClient({ baseUrl: values['provider-url']!, secretKey: values['provider-key']! });
  const merchants = new MerchantStore(pool);
  const running = await startServer({
    pool,
    provider,
    log: createLogger('error'),
    listen: '127.0.0.1:0',
    ttlSeconds: 86_400,
    leaseSeconds: 30,
    inFlightWaitMs: 10_000,
    ...(values.undefended
      ? { apiKeys: new PerCallKeyLookup((key) => merchants.authenticate(key)), authFailureLimits: false as const, maxInFlightPerMerchant: NO_LIMIT }
      : values['max-in-flight'] !== undefined
        ? { maxInFlightPerMerchant: Number(values['max-in-flight']) }
        : {}),
  });
  const counters = http.createServer((_req, res) => res.end(JSON.stringify({ statements: statements.count })));
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
