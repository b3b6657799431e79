import { randomUUID } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { Pool } from '../../src/db/pool.js';
import type { PaymentServiceClient } from '../../src/gen/payments/v1/payments.js';
import type { PeerFailureLimits } from '../../src/grpc/peer-failure-limiter.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { ProviderClient } from '../../src/provider/provider-client.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { type ProviderSimulator, startProviderSimulator } from '../../src/simulator/simulator.js';
import { sharedPool } from './database.js';
import { metadata, paymentClient } from './grpc-client.js';

export interface AbuseServer {
  running: RunningServer;
  port: number;
  pool: Pool;
  sim: ProviderSimulator;
  client: PaymentServiceClient;
  apiKey: string;
  merchantId: string;
  md(apiKey: string, idempotencyKey?: string): grpc.Metadata;
  newMerchant(): Promise<{ apiKey: string; merchantId: string }>;
  close(): Promise<void>;
}

export interface AbuseServerOptions {
  pool?: Pool;
  maxInFlightPerMerchant?: number;
  authFailureLimits?: PeerFailureLimits | false;
  log?: Logger;
  /** Another provider than the simulator (which is still started, for its statistics). */
  provider?: { baseUrl: string; secretKey: string };
  /** The simulator's secret key (default: a random one). */
  simSecretKey?: string;
}

/**
 * Like startTestServer, with the abuse defences' settings: a real server on 127.0.0.1:0 against
 * the shared database and a real provider simulator, and one merchant created before it starts.
 */
export async function startAbuseServer(o: AbuseServerOptions = {}): Promise<AbuseServer> {
  const pool = o.pool ?? (await sharedPool());
  const sim = await startProviderSimulator(o.simSecretKey !== undefined ? { secretKey: o.simSecretKey } : {});
  const provider = new ProviderClient(o.provider ?? { baseUrl: sim.url, secretKey: sim.secretKey });
  const merchants = new MerchantStore(pool);
  const { apiKey, merchantId } = await merchants.create(`abuse-${randomUUID()}`);
  const running = await startServer({
    pool,
    provider,
    log: o.log ?? createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent'),
    listen: '127.0.0.1:0',
    ttlSeconds: 86_400,
    leaseSeconds: 30,
    inFlightWaitMs: 10_000,
    ...(o.maxInFlightPerMerchant !== undefined ? { maxInFlightPerMerchant: o.maxInFlightPerMerchant } : {}),
    ...(o.authFailureLimits !== undefined ? { authFailureLimits: o.authFailureLimits } : {}),
  });
  const client = paymentClient(running.port);
  return {
    running,
    port: running.port,
    pool,
    sim,
    client,
    apiKey,
    merchantId,
    md: (key, idempotencyKey) => metadata({ authorization: `Bearer ${key}`, ...(idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : {}) }),
    newMerchant: () => merchants.create(`abuse-${randomUUID()}`),
    close: async () => {
      client.close();
      await running.shutdown(1000);
      provider.close();
      await sim.close();
    },
  };
}
