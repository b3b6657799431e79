import { randomUUID } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { withPlainClaim } from '../../scripts/bench/plain-claim.js';
import { type ClaimStatement, claimStatementSetting } from '../../src/config.js';
import type { Pool } from '../../src/db/pool.js';
import type { PaymentServiceClient } from '../../src/gen/payments/v1/payments.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import type { ServerMetrics } from '../../src/metrics.js';
import { ChargeRepository } from '../../src/payments/charge-repository.js';
import { ProviderClient } from '../../src/provider/provider-client.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { type ProviderSimulator, startProviderSimulator } from '../../src/simulator/simulator.js';
import { sharedPool } from './database.js';
import { metadata, paymentClient } from './grpc-client.js';

export interface TestServer {
  running: RunningServer;
  port: number;
  pool: Pool;
  sim: ProviderSimulator;
  client: PaymentServiceClient;
  apiKey: string;
  merchantId: string;
  /** Metadata with this merchant's API key and, when given, an idempotency key. */
  md(idempotencyKey?: string, extra?: Record<string, string | string[]>): grpc.Metadata;
  newMerchant(): Promise<{ apiKey: string; merchantId: string }>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  pool?: Pool;
  sim?: ProviderSimulator;
  leaseSeconds?: number;
  ttlSeconds?: number;
  /** How long the provider is assumed to remember idempotency keys (the server's default when unset). */
  providerWindowSeconds?: number;
  inFlightWaitMs?: number;
  providerTimeoutMs?: number;
  /** The benchmarks' baseline: no idempotency interceptor, each call run with a PlainClaim (scripts/bench/plain-claim.ts). */
  withoutIdempotency?: boolean;
  /** Completed outcomes kept in memory for replays (the server's default when unset). */
  replayCacheEntries?: number;
  /** Starts the background completer / reaper with this interval (tests mostly call runOnce()). */
  completerIntervalMs?: number;
  reaperIntervalMs?: number;
  metrics?: ServerMetrics;
  /** Calls one merchant may have in flight on this instance (the server's default when unset). */
  maxInFlightPerMerchant?: number;
  /** The claim statement (default: IDEMPOTENCY_CLAIM_STATEMENT, so CI can run every test file in both claim forms). */
  claimStatement?: ClaimStatement;
  /** The server's logger (default: silent, or TEST_LOG_LEVEL). */
  log?: Logger;
}

/** A real server on 127.0.0.1:0 against real MySQL and a real provider simulator, with a fresh merchant. */
export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const pool = o.pool ?? (await sharedPool());
  const sim = o.sim ?? (await startProviderSimulator());
  const provider = new ProviderClient({ baseUrl: sim.url, secretKey: sim.secretKey, ...(o.providerTimeoutMs ? { timeoutMs: o.providerTimeoutMs } : {}) });
  const running = await startServer({
    pool,
    provider,
    log: o.log ?? createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent'),
    listen: '127.0.0.1:0',
    ttlSeconds: o.ttlSeconds ?? 86_400,
    leaseSeconds: o.leaseSeconds ?? 30,
    inFlightWaitMs: o.inFlightWaitMs ?? 10_000,
    ...(o.providerWindowSeconds !== undefined ? { providerWindowSeconds: o.providerWindowSeconds } : {}),
    ...(o.maxInFlightPerMerchant !== undefined ? { maxInFlightPerMerchant: o.maxInFlightPerMerchant } : {}),
    ...(o.withoutIdempotency ? { withoutIdempotency: withPlainClaim(new ChargeRepository(pool)) } : {}),
    ...(o.replayCacheEntries !== undefined ? { replayCacheEntries: o.replayCacheEntries } : {}),
    ...(o.completerIntervalMs !== undefined ? { completerIntervalMs: o.completerIntervalMs } : {}),
    ...(o.reaperIntervalMs !== undefined ? { reaperIntervalMs: o.reaperIntervalMs } : {}),
    ...(o.metrics ? { metrics: o.metrics } : {}),
    claimStatement: o.claimStatement ?? claimStatementSetting({ IDEMPOTENCY_CLAIM_STATEMENT: process.env['IDEMPOTENCY_CLAIM_STATEMENT'] }),
  });
  const merchants = new MerchantStore(pool);
  const { apiKey, merchantId } = await merchants.create(`test-${randomUUID()}`);
  const client = paymentClient(running.port);
  return {
    running,
    port: running.port,
    pool,
    sim,
    client,
    apiKey,
    merchantId,
    md: (idempotencyKey, extra = {}) =>
      metadata({ authorization: `Bearer ${apiKey}`, ...(idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : {}), ...extra }),
    newMerchant: () => merchants.create(`test-${randomUUID()}`),
    close: async () => {
      client.close();
      await running.shutdown(1000);
      provider.close();
      if (!o.sim) await sim.close();
    },
  };
}
