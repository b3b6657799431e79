import { DEFAULT_MAX_IN_FLIGHT_PER_MERCHANT } from './grpc/merchant-concurrency-interceptor.js';
import { DEFAULT_REPLAY_CACHE_ENTRIES } from './idempotency/completed-outcomes.js';
import { DEFAULT_HOLDER_TIMEOUT_SECONDS, MAX_HOLDER_TIMEOUT_SECONDS } from './idempotency/lease-holder.js';

/** At most about 6.5 GB of outcomes at the largest entry size kept. */
const MAX_REPLAY_CACHE_ENTRIES = 1_000_000;

/**
 * Service configuration, read once from the environment (DESIGN §7).
 * Every value has a safe default so that `npm start` works with no setup.
 */
export interface Config {
  /** host:port the gRPC server listens on. */
  listen: string;
  /** Existing MySQL/MariaDB server; unset starts a private instance under `dataDir`. */
  mysqlUrl: string | undefined;
  /** Stripe-compatible provider; unset runs the built-in simulator. */
  providerUrl: string | undefined;
  providerSecretKey: string | undefined;
  /** How long a completed idempotency key is replayed before it may be reused. */
  keyTtlSeconds: number;
  /** How long a leader owns an in-progress key before another attempt may take it over. */
  leaseSeconds: number;
  /**
   * How long the payment provider remembers an idempotency key (Stripe: 24 h). A request whose
   * outcome is still unknown this long after its claim is looked up at the provider before
   * anything is sent again, and parked for an operator when the lookup cannot decide.
   */
  providerWindowSeconds: number;
  /**
   * Deadline of one provider call. Handler work must end before its lease
   * does, or a retry would take the row over while the first attempt still
   * waits on the provider; the provider call is the only slow step, so it
   * gets at most half the lease (and 10 s at most, like common client defaults).
   */
  providerTimeoutMs: number;
  /**
   * Completed outcomes each instance keeps in memory to replay retries
   * without a database read (see CompletedOutcomes); 0 turns it off.
   */
  replayCacheEntries: number;
  /** Longest time a concurrent duplicate waits for the leader before ABORTED. */
  inFlightWaitMs: number;
  /** Seconds without a liveness renewal after which an instance's leases may be taken over; 0: leases only. */
  holderTimeoutSeconds: number;
  /** Mean pause between background completer passes (rows left in progress past their lease). */
  completerIntervalMs: number;
  /** Mean pause between reaper passes (completed rows past their expiry). */
  reaperIntervalMs: number;
  /**
   * IDEMPOTENCY_CLAIM_STATEMENT, a testing and operations switch: which form of the claim the
   * store sends. `auto` (default) detects it from the server (INSERT ... RETURNING on MariaDB
   * 10.5+ outside Galera); `read-back` forces INSERT then SELECT by key (the MySQL 8 and Galera
   * form) so that CI runs that path on MariaDB too; `returning` forces INSERT ... RETURNING.
   */
  claimStatement: ClaimStatement;
  tls: { cert: string; key: string; clientCa: string | undefined } | undefined;
  /**
   * PAYMENTS_PAGE_TOKEN_KEY: the 32-byte key that seals ListCharges page tokens (64 hex digits,
   * or base64). Unset: a key generated once and stored in the database, shared by every instance.
   */
  pageTokenKey: Buffer | undefined;
  metricsListen: string;
  /**
   * In-flight calls one merchant may have on one instance; more are refused RESOURCE_EXHAUSTED
   * (MERCHANT_CONCURRENCY_LIMIT) before any idempotency key is claimed.
   */
  maxInFlightPerMerchant: number;
  /** Directory for the private database and other local state. */
  dataDir: string;
  logLevel: string;
}

const MAX_PROVIDER_TIMEOUT_MS = 10_000;
/** Stripe keeps idempotency keys for 24 h: the window must stay below that. */
const MAX_PROVIDER_WINDOW_SECONDS = 24 * 3600;
/** 20 h: four hours of margin below Stripe's 24 h for clock differences and requests in flight. */
const DEFAULT_PROVIDER_WINDOW_SECONDS = 20 * 3600;
/**
 * A key must outlive every retry of the request it guards. A client's retries
 * can span a whole lease (a crashed leader is taken over only when its lease
 * ends) plus the wait for an in-flight leader, so the TTL, counted from
 * completion, must be many leases long: 10 leases and at least 10 minutes.
 */
const MIN_TTL_LEASES = 10;
const MIN_TTL_SECONDS = 600;
/** The window must cover many leases, or a slow-but-normal recovery would already need a lookup. */
const MIN_WINDOW_LEASES = 10;

export const CLAIM_STATEMENTS = ['auto', 'returning', 'read-back'] as const;
export type ClaimStatement = (typeof CLAIM_STATEMENTS)[number];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw))) {
    throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  }
  return Number(raw);
}

function boundedInt(env: Env, name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw) || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from 0 to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

/** IDEMPOTENCY_CLAIM_STATEMENT (see Config.claimStatement); also read by the test servers. */
export function claimStatementSetting(env: Env): ClaimStatement {
  const raw = nonEmpty(env, 'IDEMPOTENCY_CLAIM_STATEMENT');
  if (raw === undefined) return 'auto';
  const found = CLAIM_STATEMENTS.find((c) => c === raw);
  if (found === undefined) throw new ConfigError(`IDEMPOTENCY_CLAIM_STATEMENT must be one of ${CLAIM_STATEMENTS.join(', ')}, got "${raw}"`);
  return found;
}

/** Bytes of the page token key (AES-256 / HMAC-SHA256). */
const PAGE_TOKEN_KEY_BYTES = 32;

/** A 32-byte secret as 64 hex digits or base64(url); errors never quote the value. */
function secretKey(env: Env, name: string): Buffer | undefined {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return undefined;
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(raw)) key = Buffer.from(raw, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(raw)) key = Buffer.from(raw, raw.includes('-') || raw.includes('_') ? 'base64url' : 'base64');
  if (key?.length !== PAGE_TOKEN_KEY_BYTES) {
    throw new ConfigError(`${name} must be ${PAGE_TOKEN_KEY_BYTES} bytes as 64 hex digits or base64 (e.g. \`openssl rand -hex 32\`)`);
  }
  return key;
}

function nonEmpty(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

export function loadConfig(env: Env = process.env): Config {
  const cert = nonEmpty(env, 'PAYMENTS_TLS_CERT');
  const key = nonEmpty(env, 'PAYMENTS_TLS_KEY');
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('PAYMENTS_TLS_CERT and PAYMENTS_TLS_KEY must be set together');
  }
  if (cert === undefined && nonEmpty(env, 'PAYMENTS_TLS_CLIENT_CA') !== undefined) {
    // Silently serving plaintext when mutual TLS was asked for would be the worst outcome.
    throw new ConfigError('PAYMENTS_TLS_CLIENT_CA (mutual TLS) needs PAYMENTS_TLS_CERT and PAYMENTS_TLS_KEY');
  }
  const providerUrl = nonEmpty(env, 'PAYMENTS_PROVIDER_URL');
  const providerSecretKey = nonEmpty(env, 'PAYMENTS_PROVIDER_SECRET_KEY');
  if (providerUrl !== undefined && providerSecretKey === undefined) {
    throw new ConfigError('PAYMENTS_PROVIDER_SECRET_KEY is required when PAYMENTS_PROVIDER_URL is set');
  }
  const leaseSeconds = positiveInt(env, 'IDEMPOTENCY_LEASE_SECONDS', 30);
  const keyTtlSeconds = positiveInt(env, 'IDEMPOTENCY_KEY_TTL_SECONDS', 86_400);
  const minTtl = Math.max(MIN_TTL_SECONDS, MIN_TTL_LEASES * leaseSeconds);
  if (keyTtlSeconds < minTtl) {
    throw new ConfigError(
      `IDEMPOTENCY_KEY_TTL_SECONDS must be at least ${minTtl} (10 leases of IDEMPOTENCY_LEASE_SECONDS=${leaseSeconds}, and at least ${MIN_TTL_SECONDS}), got ${keyTtlSeconds}: ` +
        'a key that expires while its client still retries lets the retry charge again',
    );
  }
  const providerWindowSeconds = positiveInt(env, 'PAYMENTS_PROVIDER_WINDOW_SECONDS', DEFAULT_PROVIDER_WINDOW_SECONDS);
  if (providerWindowSeconds > MAX_PROVIDER_WINDOW_SECONDS || providerWindowSeconds < MIN_WINDOW_LEASES * leaseSeconds) {
    throw new ConfigError(
      `PAYMENTS_PROVIDER_WINDOW_SECONDS must be from ${MIN_WINDOW_LEASES * leaseSeconds} (10 leases) to ${MAX_PROVIDER_WINDOW_SECONDS} (the provider's 24 h), got ${providerWindowSeconds}`,
    );
  }
  return {
    listen: nonEmpty(env, 'PAYMENTS_LISTEN') ?? '127.0.0.1:50051',
    mysqlUrl: nonEmpty(env, 'MYSQL_URL'),
    providerUrl,
    providerSecretKey,
    keyTtlSeconds,
    leaseSeconds,
    providerWindowSeconds,
    providerTimeoutMs: Math.min(MAX_PROVIDER_TIMEOUT_MS, (leaseSeconds * 1000) / 2),
    replayCacheEntries: boundedInt(env, 'IDEMPOTENCY_REPLAY_CACHE_ENTRIES', DEFAULT_REPLAY_CACHE_ENTRIES, MAX_REPLAY_CACHE_ENTRIES),
    inFlightWaitMs: positiveInt(env, 'IDEMPOTENCY_WAIT_MS', 10_000),
    holderTimeoutSeconds: boundedInt(env, 'IDEMPOTENCY_HOLDER_TIMEOUT_SECONDS', DEFAULT_HOLDER_TIMEOUT_SECONDS, MAX_HOLDER_TIMEOUT_SECONDS),
    completerIntervalMs: positiveInt(env, 'IDEMPOTENCY_COMPLETER_INTERVAL_MS', 5_000),
    reaperIntervalMs: positiveInt(env, 'IDEMPOTENCY_REAPER_INTERVAL_MS', 60_000),
    claimStatement: claimStatementSetting(env),
    tls: cert !== undefined && key !== undefined ? { cert, key, clientCa: nonEmpty(env, 'PAYMENTS_TLS_CLIENT_CA') } : undefined,
    pageTokenKey: secretKey(env, 'PAYMENTS_PAGE_TOKEN_KEY'),
    metricsListen: nonEmpty(env, 'METRICS_LISTEN') ?? '127.0.0.1:9464',
    maxInFlightPerMerchant: positiveInt(env, 'PAYMENTS_MAX_IN_FLIGHT_PER_MERCHANT', DEFAULT_MAX_IN_FLIGHT_PER_MERCHANT),
    dataDir: nonEmpty(env, 'PAYMENTS_DATA_DIR') ?? '.data',
    logLevel: nonEmpty(env, 'LOG_LEVEL') ?? 'info',
  };
}
