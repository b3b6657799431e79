import type { ServingStatus } from 'grpc-health-check';
import type { Logger } from '../logger.js';

/**
 * How often the store is probed while it answers. Calls that meet an unreachable store ask for
 * a probe at once (see readiness-interceptor.ts), so this only bounds how long an idle instance
 * keeps reporting SERVING after the store went away: 2 s is below the 5-10 s interval of common
 * load-balancer health checks, and one `SELECT 1` every 2 s costs the database nothing.
 */
export const READINESS_PROBE_INTERVAL_MS = 2_000;

/**
 * How often the store is probed while it does not answer: the instance takes traffic again at
 * most this long after the store is back. A probe against a down server is a refused connect
 * (microseconds), so polling faster than while serving costs nothing.
 */
export const RECOVERY_PROBE_INTERVAL_MS = 500;

export interface StoreReadinessOptions {
  /** Resolves when the store answers; rejects with the reason when it does not. */
  probe: () => Promise<void>;
  /** Publishes the readiness (the health service's status for the payment service). */
  setStatus: (status: ServingStatus) => void;
  log: Logger;
  /** Probe interval while SERVING (default READINESS_PROBE_INTERVAL_MS). */
  intervalMs?: number;
}

type Readiness = Extract<ServingStatus, 'SERVING' | 'NOT_SERVING'>;

/**
 * Readiness of this instance = "the store answers". A probe runs every few seconds, and at once
 * when a call reports that the store looked unreachable (`suspect()`). The published status is
 * always the result of the latest probe, never of a call's error alone: the commonest call-side
 * connection error is a pooled connection that died with a server that has since restarted, and
 * flipping on it would report NOT_SERVING exactly when the store is back. Against a stopped
 * server the confirming probe fails within milliseconds (connection refused).
 *
 * At most one probe runs at a time; a suspicion raised while one runs (which may have started
 * before the failure) is answered by another probe right after it.
 */
export class StoreReadiness {
  private status: Readiness | undefined;
  private downSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private recheck = false;
  private stopped = false;
  private readonly intervalMs: number;

  constructor(private readonly o: StoreReadinessOptions) {
    this.intervalMs = o.intervalMs ?? READINESS_PROBE_INTERVAL_MS;
  }

  /** Runs the first probe (its result is the initial status), then keeps probing. */
  start(): Promise<void> {
    return this.check();
  }

  /** A call met what looks like an unreachable store: probe now rather than at the next tick. */
  suspect(): void {
    // While NOT_SERVING the recovery probes already run often; calls failing fast then must not
    // turn into a probe per call.
    if (this.stopped || this.status === 'NOT_SERVING') return;
    void this.check();
  }

  /** Stops probing and waits for a probe in progress; no timer is left behind. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inFlight !== undefined) {
      this.recheck = true;
      return this.inFlight;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.probeOnce().then(() => {
      this.inFlight = undefined;
      if (this.recheck) {
        this.recheck = false;
        return this.check();
      }
      this.schedule();
      return undefined;
    });
    this.inFlight = run;
    return run;
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = this.status === 'SERVING' ? this.intervalMs : Math.min(this.intervalMs, RECOVERY_PROBE_INTERVAL_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check();
    }, delay);
    // Probing never keeps the process alive; shutdown stops it explicitly anyway.
    this.timer.unref();
  }

  private async probeOnce(): Promise<void> {
    try {
      await this.o.probe();
    } catch (err) {
      if (!this.stopped) this.publish('NOT_SERVING', err);
      return;
    }
    if (!this.stopped) this.publish('SERVING', undefined);
  }

  private publish(status: Readiness, err: unknown): void {
    if (status === this.status) return;
    const previous = this.status;
    this.status = status;
    try {
      this.o.setStatus(status);
    } catch (setErr) {
      this.o.log.error({ err: setErr }, 'could not publish readiness');
    }
    if (status === 'NOT_SERVING') {
      this.downSince = Date.now();
      // Codes only: a driver error's message may quote a statement.
      this.o.log.warn({ err }, 'payments store unreachable: readiness is NOT_SERVING');
    } else if (previous !== undefined) {
      this.o.log.info({ downMs: Date.now() - (this.downSince ?? Date.now()) }, 'payments store reachable again: readiness is SERVING');
    }
  }
}
