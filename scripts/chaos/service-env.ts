/**
 * How the chaos run configures the service: the same variables an operator sets,
 * with time scaled down so leases expire and the completer runs within the run.
 */

/**
 * Lease of an in-progress key. Short so that takeovers (after a kill, and of the
 * zombie's rows) happen many times per run; the service derives its provider call
 * timeout from it (half the lease: 2.5 s).
 */
export const LEASE_SECONDS = 5;
/**
 * Seconds after which an instance that stopped renewing its liveness counts as gone and its
 * rows are taken over (before their lease): below the lease, so kills, the database crash
 * (every renewal fails while it is down, and live holders look gone until they renew again)
 * and the zombie pause all exercise takeovers from holders that are gone, or only look gone.
 */
export const HOLDER_TIMEOUT_SECONDS = 2;
/** Mean pause between background completer passes: rows abandoned by a kill are finished within seconds. */
export const COMPLETER_INTERVAL_MS = 1_000;
/**
 * How long a concurrent duplicate waits for its leader before ABORTED. Below the
 * clients' call deadline, so a waiting retry hears ABORTED rather than timing out.
 */
export const IN_FLIGHT_WAIT_MS = 2_000;

export function serviceEnv(mysqlUrl: string, providerUrl: string, providerSecretKey: string): Record<string, string> {
  return {
    MYSQL_URL: mysqlUrl,
    PAYMENTS_PROVIDER_URL: providerUrl,
    PAYMENTS_PROVIDER_SECRET_KEY: providerSecretKey,
    IDEMPOTENCY_LEASE_SECONDS: String(LEASE_SECONDS),
    IDEMPOTENCY_HOLDER_TIMEOUT_SECONDS: String(HOLDER_TIMEOUT_SECONDS),
    IDEMPOTENCY_COMPLETER_INTERVAL_MS: String(COMPLETER_INTERVAL_MS),
    IDEMPOTENCY_WAIT_MS: String(IN_FLIGHT_WAIT_MS),
    LOG_LEVEL: 'info',
  };
}
