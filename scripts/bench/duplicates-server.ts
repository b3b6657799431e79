/**
 * One server instance of a naive strategy or a peer library for the
 * duplicate-charge benchmark (scripts/bench/duplicates.ts starts several). It
 * is the product's gRPC server with the idempotency interceptor replaced by a
 * naive one, or CreateCharge wrapped by the peer library: same auth
 * interceptor, same PaymentService and handlers, same charge writes (each
 * call runs with a PlainClaim, as in `bench:throughput`'s server without the
 * interceptor: the handler writes the charge row itself) and a provider key
 * that is new on every call.
 *
 *   tsx scripts/bench/duplicates-server.ts --strategy check-then-insert|in-memory-cache|redis-get-then-set|powertools-redis|node-idempotency-redis
 *
 * Environment: MYSQL_URL, PAYMENTS_PROVIDER_URL, PAYMENTS_PROVIDER_SECRET_KEY,
 * PAYMENTS_LISTEN (default 127.0.0.1:0), BENCH_REDIS_URL, BENCH_REDIS_PREFIX.
 * Logs JSON lines like `src/main.ts`, including "payments gRPC server listening" with the port.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { createPool, type Pool } from '../../src/db/pool.js';
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
import { isNaiveStrategy, NAIVE_STRATEGIES, type NaiveKeyStore, type NaiveStrategy } from './naive-key-store.js';
import { InMemoryCacheStore } from './naive-memory-cache.js';
import { connectRedis, DEFAULT_REDIS_URL, RedisGetThenSetStore } from './naive-redis.js';
import { isPeerStrategy, PEER_STRATEGIES, type PeerIdempotency, type PeerStrategy, peerHandlers } from './peer-idempotency.js';
import { nodeIdempotencyPeer } from './peer-node-idempotency.js';
import { powertoolsPeer } from './peer-powertools.js';
import { withPlainClaim } from './plain-claim.js';

/** The benchmark stops servers only after their calls have ended; this bounds a wedged shutdown. */
const SHUTDOWN_GRACE_MS = 5_000;
/** Same as the product's server: requests are small. */
const MAX_RECEIVE_MESSAGE_BYTES = 1024 * 1024;

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} must be set`);
  return value;
}

async function naiveStore(strategy: NaiveStrategy, pool: Pool): Promise<NaiveKeyStore> {
  switch (strategy) {
    case 'check-then-insert':
      return new CheckThenInsertStore(pool);
    case 'in-memory-cache':
      return new InMemoryCacheStore();
    case 'redis-get-then-set':
      return new RedisGetThenSetStore(await connectRedis(redisUrl()), process.env['BENCH_REDIS_PREFIX'] ?? 'bench:duplicates:');
  }
}

function peer(strategy: PeerStrategy): Promise<PeerIdempotency> {
  switch (strategy) {
    case 'powertools-redis':
      return powertoolsPeer(redisUrl());
    case 'node-idempotency-redis':
      return nodeIdempotencyPeer(redisUrl());
  }
}

function redisUrl(): string {
  return process.env['BENCH_REDIS_URL'] ?? DEFAULT_REDIS_URL;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { strategy: { type: 'string' } }, strict: true });
  const strategy = values.strategy;
  if (!isNaiveStrategy(strategy) && !isPeerStrategy(strategy))
    throw new Error(`--strategy must be one of ${[...NAIVE_STRATEGIES, ...PEER_STRATEGIES].join(', ')}`);
  const log = createLogger(process.env['LOG_LEVEL'] ?? 'info');
  const pool = createPool(required('MYSQL_URL'));
  const provider = new ProviderClient({ baseUrl: required('PAYMENTS_PROVIDER_URL'), secretKey: required('PAYMENTS_PROVIDER_SECRET_KEY') });
  const repo = new ChargeRepository(pool);
  const service = new PaymentService(repo, provider);
  // No idempotency claim: each call runs with a PlainClaim, so the handler writes the charge row directly and uses a fresh provider key.
  const plainClaim = withPlainClaim(repo);
  const merchants = new MerchantStore(pool);
  const auth = authInterceptor((apiKey) => merchants.authenticate(apiKey), log);

  let server: grpc.Server;
  let closeStore: () => Promise<void>;
  if (isNaiveStrategy(strategy)) {
    const store = await naiveStore(strategy, pool);
    closeStore = () => store.close();
    server = new grpc.Server({ interceptors: [auth, naiveIdempotencyInterceptor(store, log)], 'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES });
    server.addService(withRawMessages(PaymentServiceService), paymentHandlers(service, log, plainClaim));
  } else {
    const library = await peer(strategy);
    closeStore = () => library.close();
    server = new grpc.Server({ interceptors: [auth], 'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES });
    server.addService(PaymentServiceService, peerHandlers(service, library, plainClaim, log));
  }
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
    await closeStore().catch((err: unknown) => log.warn({ err }, 'closing the idempotency store failed'));
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
  createLogger().fatal({ err }, 'benchmark server failed to start');
  process.exit(1);
});
