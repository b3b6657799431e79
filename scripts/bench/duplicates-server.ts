/**
 * One server instance of a naive strategy for the duplicate-charge benchmark
 * (scripts/bench/duplicates.ts starts several). It is the product's gRPC
 * server with the idempotency interceptor replaced by a naive one: same auth
 * interceptor, same PaymentService and handlers, same charge writes (the
 * handler writes the charge row itself, as in `startServer`'s
 * `withoutIdempotency` mode) and a provider key that is new on every call.
 *
 *   tsx scripts/bench/duplicates-server.ts --strategy check-then-insert|in-memory-cache|redis-get-then-set
 *
 * Environment: MYSQL_URL, PAYMENTS_PROVIDER_URL, PAYMENTS_PROVIDER_SECRET_KEY,
 * PAYMENTS_LISTEN (default 127.0.0.1:0), BENCH_REDIS_URL, BENCH_REDIS_PREFIX.
 * Logs JSON lines like `src/main.ts`, including "payments gRPC server listening" with the port.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { createPool } from '../../src/db/pool.js';
import { PaymentServiceService } from '../../src/gen/payments/v1/payments.js';
import { authInterceptor } from '../../src/grpc/auth-interceptor.js';
import { withRawMessages } from '../../src/idempotency/raw-response.js';
import { createLogger } from '../../src/logger.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { ChargeRepository } from '../../src/payments/charge-repository.js';
import { paymentHandlers } from '../../src/payments/payment-handlers.js';
import { PaymentService } from '../../src/payments/payment-service.js';
import { ProviderClient } from '../../src/provider/provider-client.js';
import { CheckThenInsertStore } from './naive-check-then-insert.js';
import { naiveIdempotencyInterceptor } from './naive-interceptor.js';
import { isNaiveStrategy, NAIVE_STRATEGIES, type NaiveKeyStore } from './naive-key-store.js';
import { InMemoryCacheStore } from './naive-memory-cache.js';
import { connectRedis, DEFAULT_REDIS_URL, RedisGetThenSetStore } from './naive-redis.js';

/** The benchmark stops servers only after their calls have ended; this bounds a wedged shutdown. */
const SHUTDOWN_GRACE_MS = 5_000;
/** Same as the product's server: requests are small. */
const MAX_RECEIVE_MESSAGE_BYTES = 1024 * 1024;

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} must be set`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { strategy: { type: 'string' } }, strict: true });
  const strategy = values.strategy;
  if (!isNaiveStrategy(strategy)) throw new Error(`--strategy must be one of ${NAIVE_STRATEGIES.join(', ')}`);
  const log = createLogger(process.env['LOG_LEVEL'] ?? 'info');
  const pool = createPool(required('MYSQL_URL'));
  const provider = new ProviderClient({ baseUrl: required('PAYMENTS_PROVIDER_URL'), secretKey: required('PAYMENTS_PROVIDER_SECRET_KEY') });

  let store: NaiveKeyStore;
  switch (strategy) {
    case 'check-then-insert':
      store = new CheckThenInsertStore(pool);
      break;
    case 'in-memory-cache':
      store = new InMemoryCacheStore();
      break;
    case 'redis-get-then-set':
      store = new RedisGetThenSetStore(await connectRedis(process.env['BENCH_REDIS_URL'] ?? DEFAULT_REDIS_URL), process.env['BENCH_REDIS_PREFIX'] ?? 'bench:duplicates:');
      break;
  }

  const merchants = new MerchantStore(pool);
  const server = new grpc.Server({
    interceptors: [authInterceptor((apiKey) => merchants.authenticate(apiKey), log), naiveIdempotencyInterceptor(store, log)],
    'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
  });
  // `false`: no claim is required, so the handler writes the charge row directly and uses a fresh provider key.
  const service = new PaymentService(new ChargeRepository(pool), provider, false);
  server.addService(withRawMessages(PaymentServiceService), paymentHandlers(service, log));
  const listen = process.env['PAYMENTS_LISTEN'] ?? '127.0.0.1:0';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await store.close().catch((err: unknown) => log.warn({ err }, 'closing the naive store failed'));
    provider.close();
    await pool.end().catch((err: unknown) => log.warn({ err }, 'closing the pool failed'));
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ listen, port, strategy }, 'payments gRPC server listening');
}

main().catch((err: unknown) => {
  createLogger().fatal({ err }, 'naive benchmark server failed to start');
  process.exit(1);
});
