import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { ClaimStatement } from './config.js';
import type { Pool } from './db/pool.js';
import { probeStore } from './db/store-probe.js';
import { PaymentServiceService } from './gen/payments/v1/payments.js';
import { type ApiKeyAuthenticator, authInterceptor, merchantOf } from './grpc/auth-interceptor.js';
import { DEFAULT_MAX_IN_FLIGHT_PER_MERCHANT, merchantConcurrencyInterceptor } from './grpc/merchant-concurrency-interceptor.js';
import { DEFAULT_PEER_FAILURE_LIMITS, PeerFailureLimiter, type PeerFailureLimits } from './grpc/peer-failure-limiter.js';
import { readinessInterceptor } from './grpc/readiness-interceptor.js';
import { addReflection } from './grpc/reflection.js';
import { StoreReadiness } from './grpc/store-readiness.js';
import { BackgroundCompleter } from './idempotency/background-completer.js';
import { CompletedOutcomes, DEFAULT_REPLAY_CACHE_ENTRIES } from './idempotency/completed-outcomes.js';
import { idempotencyInterceptor, keyedMethods } from './idempotency/idempotency-interceptor.js';
import { DEFAULT_HOLDER_TIMEOUT_SECONDS, LeaseHolder } from './idempotency/lease-holder.js';
import { MysqlIdempotencyStore } from './idempotency/mysql-idempotency-store.js';
import { withRawMessages } from './idempotency/raw-response.js';
import { Reaper } from './idempotency/reaper.js';
import { RecoveryPoint } from './idempotency/record.js';
import type { Logger } from './logger.js';
import { ApiKeyIndex } from './merchants/api-key-index.js';
import type { ServerMetrics } from './metrics.js';
import { ChargeRepository } from './payments/charge-repository.js';
import { type ClaimedCall, paymentHandlers } from './payments/payment-handlers.js';
import { PaymentService } from './payments/payment-service.js';
import { validateRequest } from './payments/request-validation.js';
import { resumableMethods } from './payments/resumable-methods.js';
import type { ProviderClient } from './provider/provider-client.js';

/** The health service name of the payment service (its readiness). */
const PAYMENT_SERVICE_NAME = 'payments.v1.PaymentService';

export const DESCRIPTOR_SET_PATH = path.join(__dirname, 'gen', 'payments.binpb');

export interface ServerOptions {
  pool: Pool;
  provider: ProviderClient;
  log: Logger;
  listen: string;
  ttlSeconds: number;
  leaseSeconds: number;
  /**
   * How long the payment provider remembers an idempotency key (Stripe: about 24 h). A request
   * whose outcome is still unknown after this long is looked up at the provider before anything
   * is sent again (default DEFAULT_PROVIDER_WINDOW_SECONDS).
   */
  providerWindowSeconds?: number;
  inFlightWaitMs: number;
  /** Completed outcomes kept in memory for replays (default DEFAULT_REPLAY_CACHE_ENTRIES; 0 turns it off). */
  replayCacheEntries?: number;
  credentials?: grpc.ServerCredentials;
  /** Seals ListCharges page tokens (PAYMENTS_PAGE_TOKEN_KEY); unset: the key stored in the database. */
  pageTokenKey?: Uint8Array;
  /**
   * Only for the benchmarks' baseline: serve mutating RPCs without the idempotency interceptor
   * (and without the completer and the reaper), each call run with the claim this supplies.
   */
  withoutIdempotency?: ClaimedCall;
  metrics?: ServerMetrics;
  /**
   * Seconds after which an instance that stopped renewing its liveness (killed, frozen, cut off
   * from the database) is gone, and the rows it leased may be taken over before their lease ends
   * (IDEMPOTENCY_HOLDER_TIMEOUT_SECONDS; default DEFAULT_HOLDER_TIMEOUT_SECONDS; 0: leases only).
   */
  holderTimeoutSeconds?: number;
  /**
   * The lease holder's own pool (main.ts: one connection), so a renewal never waits behind the
   * calls on a saturated `pool` or is refused by its full queue: renewals late for a holder
   * timeout let other instances take this live instance's rows over. Default: `pool`.
   */
  holderPool?: Pool;
  /** Background completer pass interval; 0 disables it. */
  completerIntervalMs?: number;
  /** Reaper pass interval; 0 disables it. */
  reaperIntervalMs?: number;
  /** Which claim statement the store sends (IDEMPOTENCY_CLAIM_STATEMENT; default `auto`, detected from the server). */
  claimStatement?: ClaimStatement;
  /** Store probe interval while ready (default READINESS_PROBE_INTERVAL_MS; see store-readiness.ts). */
  readinessProbeIntervalMs?: number;
  /** In-flight calls per merchant on this instance (default DEFAULT_MAX_IN_FLIGHT_PER_MERCHANT). */
  maxInFlightPerMerchant?: number;
  /** Unknown API keys per client address (default DEFAULT_PEER_FAILURE_LIMITS); false only for the abuse benchmark's baseline. */
  authFailureLimits?: PeerFailureLimits | false;
  /** Only for the abuse benchmark's baseline: where API keys are looked up instead of the in-memory index. */
  apiKeys?: ApiKeyAuthenticator;
}

/**
 * Concurrent streams one HTTP/2 connection may open. Without a limit a single connection can
 * open thousands of calls at once (each with its buffers and interceptor state); real clients
 * multiplex far fewer, and more connections are cheap for them. 100 is the HTTP/2 RFC's
 * recommended minimum and what most servers advertise.
 */
const MAX_CONCURRENT_STREAMS_PER_CONNECTION = 100;

/**
 * Stripe keeps an idempotency key for at least 24 hours; 20 h leaves a margin for clock
 * differences and for the time a resumed request spends in flight.
 */
export const DEFAULT_PROVIDER_WINDOW_SECONDS = 20 * 3600;

/** Rows per completer pass: each resumes one request against the provider, so keep passes short. */
const COMPLETER_BATCH_SIZE = 20;
/** Rows per reaper DELETE: small enough that each statement's locks are brief. */
const REAPER_BATCH_SIZE = 500;

export interface RunningServer {
  server: grpc.Server;
  port: number;
  health: HealthImplementation;
  completer: BackgroundCompleter | undefined;
  reaper: Reaper | undefined;
  /** Stops accepting calls, lets in-flight calls finish for up to `graceMs`, then cancels the rest. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Every mutating method of PaymentService talks to the provider only after
 * validation (no side effects), so its claim starts at `provider_requested`:
 * the INSERT that claims the key also durably records that a provider request
 * may follow, which spares one round trip per call.
 */
const initialRecoveryPoint = (): RecoveryPoint => RecoveryPoint.ProviderRequested;

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const descriptorSet = readFileSync(DESCRIPTOR_SET_PATH);
  const apiKeyIndex = o.apiKeys ? undefined : new ApiKeyIndex(o.pool, (err) => o.log.warn({ err }, 'API key index refresh failed'));
  await apiKeyIndex?.start();
  const apiKeys: ApiKeyAuthenticator = o.apiKeys ?? apiKeyIndex!;
  const observe = o.metrics?.observe;
  const claimStatement = o.claimStatement ?? 'auto';
  const holderTimeoutSeconds = o.holderTimeoutSeconds ?? DEFAULT_HOLDER_TIMEOUT_SECONDS;
  const holder =
    !o.withoutIdempotency && holderTimeoutSeconds > 0
      ? new LeaseHolder(o.holderPool ?? o.pool, { timeoutSeconds: holderTimeoutSeconds, log: o.log })
      : undefined;
  // Before the first call: a claim records this instance only once its liveness row exists.
  await holder?.start();
  const store = new MysqlIdempotencyStore(o.pool, {
    ...(claimStatement === 'auto' ? {} : { insertReturning: claimStatement === 'returning' }),
    ...(holder ? { holder } : {}),
  });
  // Health: "" is liveness (the process answers) and stays SERVING until shutdown; the payment
  // service's name is readiness: SERVING only while the store answers.
  const health = new HealthImplementation({ '': 'SERVING', [PAYMENT_SERVICE_NAME]: 'NOT_SERVING' });
  const readiness = new StoreReadiness({
    probe: () => probeStore(o.pool),
    setStatus: (status) => health.setStatus(PAYMENT_SERVICE_NAME, status),
    log: o.log,
    ...(o.readinessProbeIntervalMs !== undefined ? { intervalMs: o.readinessProbeIntervalMs } : {}),
  });
  // First, so it sees the statuses every other interceptor and handler sends.
  const interceptors: grpc.ServerInterceptor[] = [readinessInterceptor(() => readiness.suspect())];
  if (o.metrics) interceptors.push(o.metrics.interceptor());
  const authFailureLimits = o.authFailureLimits ?? DEFAULT_PEER_FAILURE_LIMITS;
  interceptors.push(
    authInterceptor({ keys: apiKeys, log: o.log, ...(authFailureLimits ? { failureLimiter: new PeerFailureLimiter(authFailureLimits) } : {}) }),
  );
  // After auth (it needs the merchant), before idempotency (a refused call must claim nothing).
  interceptors.push(merchantConcurrencyInterceptor({ merchantOf, maxInFlight: o.maxInFlightPerMerchant ?? DEFAULT_MAX_IN_FLIGHT_PER_MERCHANT, log: o.log }));
  if (!o.withoutIdempotency) {
    interceptors.push(
      idempotencyInterceptor({
        store,
        descriptorSet,
        services: [PaymentServiceService],
        scopeOf: merchantOf,
        ttlSeconds: o.ttlSeconds,
        leaseSeconds: o.leaseSeconds,
        downstreamWindowSeconds: o.providerWindowSeconds ?? DEFAULT_PROVIDER_WINDOW_SECONDS,
        maxWaitMs: o.inFlightWaitMs,
        initialRecoveryPoint,
        validate: validateRequest,
        completedOutcomes: new CompletedOutcomes(o.replayCacheEntries ?? DEFAULT_REPLAY_CACHE_ENTRIES),
        log: o.log,
        ...(observe ? { observe } : {}),
      }),
    );
  }
  const server = new grpc.Server({
    interceptors,
    'grpc.max_receive_message_length': 1024 * 1024,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS_PER_CONNECTION,
  });
  const service = new PaymentService(new ChargeRepository(o.pool), o.provider, o.pageTokenKey);
  // The interceptor's methods get their requests decoded on demand (it hands the handlers decoded
  // ones); without the interceptor every request is decoded before its handler runs.
  const keyed = o.withoutIdempotency ? new Set<string>() : keyedMethods(descriptorSet, [PaymentServiceService]);
  server.addService(withRawMessages(PaymentServiceService, keyed), paymentHandlers(service, o.log, o.withoutIdempotency));
  health.addToServer(server);
  addReflection(server, descriptorSet);

  let completer: BackgroundCompleter | undefined;
  let reaper: Reaper | undefined;
  if (!o.withoutIdempotency && (o.completerIntervalMs ?? 0) > 0) {
    completer = new BackgroundCompleter({
      store,
      methods: resumableMethods(service),
      terms: { leaseSeconds: o.leaseSeconds, ttlSeconds: o.ttlSeconds, downstreamWindowSeconds: o.providerWindowSeconds ?? DEFAULT_PROVIDER_WINDOW_SECONDS },
      batchSize: COMPLETER_BATCH_SIZE,
      intervalMs: o.completerIntervalMs ?? 0,
      log: o.log,
      ...(observe ? { observe } : {}),
    });
    completer.start();
  }
  if (!o.withoutIdempotency && (o.reaperIntervalMs ?? 0) > 0) {
    reaper = new Reaper({ store, batchSize: REAPER_BATCH_SIZE, intervalMs: o.reaperIntervalMs ?? 0, log: o.log, ...(observe ? { observe } : {}) });
    reaper.start();
  }

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(o.listen, o.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  // The first probe decides the initial readiness before startServer returns.
  await readiness.start();

  return {
    server,
    port,
    health,
    completer,
    reaper,
    shutdown: async (graceMs) => {
      // Stop the probe first (synchronously: a probe still running can no longer publish
      // SERVING), and tell load balancers before waiting for the background tasks.
      const stopping = readiness.stop();
      apiKeyIndex?.stop();
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(PAYMENT_SERVICE_NAME, 'NOT_SERVING');
      await Promise.all([completer?.stop(), reaper?.stop(), stopping]);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      // Drained: whatever this instance still holds (outcomes kept for recovery) is taken over at once.
      await holder?.stop();
    },
  };
}
