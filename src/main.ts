import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { type LocalMysql, MysqlNotInstalledError, startLocalMysql } from './db/local-mysql.js';
import { migrate } from './db/migrations.js';
import { createPool, type Pool } from './db/pool.js';
import { createLogger, type Logger } from './logger.js';
import { MerchantStore } from './merchants/merchant-store.js';
import { ServerMetrics } from './metrics.js';
import { ProviderClient } from './provider/provider-client.js';
import { type RunningServer, startServer } from './server.js';
import { loadTlsCredentials } from './tls-credentials.js';

/** In-flight calls get this long to finish on SIGTERM before they are cancelled (below common 30 s orchestrator grace periods). */
const SHUTDOWN_GRACE_MS = 20_000;
/** The lease holder sends one statement at a time (one renewal, never piled up): one connection is enough. */
const HOLDER_CONNECTION_LIMIT = 1;

function credentials(config: Config): grpc.ServerCredentials {
  return config.tls ? loadTlsCredentials(config.tls) : grpc.ServerCredentials.createInsecure();
}

async function openDatabase(config: Config, log: Logger): Promise<{ url: string; local: LocalMysql | undefined }> {
  if (config.mysqlUrl) return { url: config.mysqlUrl, local: undefined };
  const dataDir = path.resolve(config.dataDir, 'mysql');
  log.info({ dataDir }, 'MYSQL_URL is not set: starting a private MySQL/MariaDB instance');
  const local = await startLocalMysql({ dataDir, reuseRunning: true, log: (msg) => log.info(msg) });
  return { url: local.url, local };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  // First: a bad certificate or key file stops the start before anything else is started.
  const serverCredentials = credentials(config);
  const cleanups: Array<() => Promise<unknown>> = [];
  let running: RunningServer | undefined;
  let stopping = false;

  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight calls');
    if (running) await running.shutdown(SHUTDOWN_GRACE_MS);
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => log.warn({ err }, 'cleanup failed'));
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const db = await openDatabase(config, log);
  // release(), not stop(): another `npm start` may be using the same private database (it reused
  // ours, or we reused theirs); the last one to exit stops it.
  if (db.local) cleanups.push(() => db.local!.release());
  const pool: Pool = createPool(db.url);
  cleanups.push(() => pool.end());
  // The lease holder's renewals on their own connection, not queued behind calls on `pool`
  // (server.ts, holderPool). Opened on first use (none with liveness off); closed after
  // running.shutdown() has stopped the holder and removed its row.
  const holderPool: Pool = createPool(db.url, HOLDER_CONNECTION_LIMIT);
  cleanups.push(() => holderPool.end());
  const applied = await migrate(pool);
  if (applied.length > 0) log.info({ versions: applied }, 'applied database migrations');

  let provider: ProviderClient;
  if (config.providerUrl && config.providerSecretKey) {
    provider = new ProviderClient({ baseUrl: config.providerUrl, secretKey: config.providerSecretKey, timeoutMs: config.providerTimeoutMs });
  } else {
    // The one place production code reaches the simulator (a development tool, src/simulator/):
    // loaded lazily, only on this branch, so a server configured with a real provider never loads it.
    const { startProviderSimulator } = await import('./simulator/simulator.js');
    const sim = await startProviderSimulator();
    cleanups.push(() => sim.close());
    log.info({ url: sim.url }, 'PAYMENTS_PROVIDER_URL is not set: using the built-in provider simulator');
    provider = new ProviderClient({ baseUrl: sim.url, secretKey: sim.secretKey, timeoutMs: config.providerTimeoutMs });
  }
  cleanups.push(async () => provider.close());

  const merchants = new MerchantStore(pool);
  if ((await merchants.count()) === 0) {
    const dev = await merchants.create('development');
    // Printed once, on the first start with an empty database; only its hash is stored.
    process.stdout.write(`${JSON.stringify({ development_merchant_id: dev.merchantId, api_key: dev.apiKey })}\n`);
    log.info({ merchantId: dev.merchantId }, 'created a development merchant; its API key was printed above and is not shown again');
  }

  const metrics = new ServerMetrics();
  const metricsServer = await metrics.listen(config.metricsListen);
  cleanups.push(() => new Promise((resolve) => metricsServer.close(resolve)));
  const metricsAddress = metricsServer.address();
  log.info({ port: typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : undefined }, 'metrics served at /metrics');

  running = await startServer({
    pool,
    provider,
    log,
    listen: config.listen,
    ttlSeconds: config.keyTtlSeconds,
    leaseSeconds: config.leaseSeconds,
    providerWindowSeconds: config.providerWindowSeconds,
    maxInFlightPerMerchant: config.maxInFlightPerMerchant,
    ...(config.pageTokenKey ? { pageTokenKey: config.pageTokenKey } : {}),
    inFlightWaitMs: config.inFlightWaitMs,
    replayCacheEntries: config.replayCacheEntries,
    credentials: serverCredentials,
    metrics,
    holderTimeoutSeconds: config.holderTimeoutSeconds,
    holderPool,
    completerIntervalMs: config.completerIntervalMs,
    reaperIntervalMs: config.reaperIntervalMs,
    claimStatement: config.claimStatement,
  });
  log.info({ listen: config.listen, port: running.port, tls: config.tls !== undefined }, 'payments gRPC server listening');
}

main().catch((err: unknown) => {
  const log = createLogger();
  if (err instanceof ConfigError || err instanceof MysqlNotInstalledError) {
    log.fatal(err.message);
  } else {
    log.fatal({ err }, 'failed to start');
  }
  process.exit(1);
});
