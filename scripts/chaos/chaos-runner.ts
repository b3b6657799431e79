/**
 * Carries out a schedule: each event starts at its time (relative to the start
 * of the run) and ends with the affected process back (restarted, continued) or
 * the fault window closed. Targets are chosen at run time: a scheduled instance
 * that is already down or paused is replaced by the next one that is up.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { LocalMysql } from '../../src/db/local-mysql.js';
import type { ProviderControl } from './provider-control.js';
import { type ChaosEvent, describeEvent, faultsOf, MID_FLIGHT_FAULT, MID_FLIGHT_LEAD_MS } from './schedule.js';
import type { ServerFleet } from './server-fleet.js';

/** A kill or pause waits at most this long for an instance it may hit (one up, another one still serving). */
const TARGET_WAIT_MS = 30_000;
const TARGET_POLL_MS = 250;

export interface ChaosCounts {
  serverKills: number;
  databaseKills: number;
  zombiePauses: number;
  faultWindows: number;
  /** Events that could not happen, with the reason (a run with any is reported). */
  skipped: string[];
  /** Instances that ended without being killed by the run. */
  unexpectedExits: string[];
}

export class ChaosRunner {
  readonly counts: ChaosCounts = { serverKills: 0, databaseKills: 0, zombiePauses: 0, faultWindows: 0, skipped: [], unexpectedExits: [] };
  private stopped = false;

  constructor(
    private readonly fleet: ServerFleet,
    private readonly database: LocalMysql,
    private readonly provider: ProviderControl,
    private readonly log: (line: string) => void,
  ) {}

  /** Runs every event; resolves once all have ended (processes back, windows closed). */
  async run(events: readonly ChaosEvent[], startedAt: number): Promise<void> {
    await Promise.all(
      events.map(async (event) => {
        const wait = startedAt + event.atMs - Date.now();
        if (wait > 0) await delay(wait);
        if (this.stopped) return;
        try {
          await this.perform(event);
        } catch (err) {
          this.counts.skipped.push(`${describeEvent(event)}: failed (${err instanceof Error ? err.message : String(err)})`);
        }
      }),
    );
  }

  /** Lets events still waiting for their time lapse (on failure or Ctrl-C). */
  stop(): void {
    this.stopped = true;
  }

  private async perform(event: ChaosEvent): Promise<void> {
    const at = `[t=${(event.atMs / 1000).toFixed(1)}s]`;
    switch (event.kind) {
      case 'server_kill': {
        await this.slowProviderFirst();
        const target = await this.target(event.instance);
        if (target === undefined) {
          this.counts.skipped.push(`${describeEvent(event)}: no instance could be killed within ${TARGET_WAIT_MS} ms`);
          return;
        }
        const pid = this.fleet.pid(target);
        await this.fleet.kill(target);
        this.counts.serverKills += 1;
        this.log(`${at} SIGKILL server ${target} (pid ${pid}); restarting in ${event.downMs} ms`);
        await delay(event.downMs);
        await this.fleet.restart(target);
        this.log(`server ${target} is back (pid ${this.fleet.pid(target)})`);
        return;
      }
      case 'database_kill': {
        await this.slowProviderFirst();
        const pid = this.database.pid;
        await this.database.kill('SIGKILL');
        this.counts.databaseKills += 1;
        this.log(`${at} SIGKILL database (pid ${pid}); restarting in ${event.downMs} ms`);
        await delay(event.downMs);
        await this.database.restart();
        this.log(`database is back on port ${this.database.port} (pid ${this.database.pid})`);
        return;
      }
      case 'zombie': {
        await this.slowProviderFirst();
        const target = await this.target(event.instance);
        if (target === undefined) {
          this.counts.skipped.push(`${describeEvent(event)}: no instance could be paused within ${TARGET_WAIT_MS} ms`);
          return;
        }
        this.fleet.pause(target);
        this.counts.zombiePauses += 1;
        this.log(`${at} SIGSTOP server ${target} (pid ${this.fleet.pid(target)}) for ${event.pauseMs} ms`);
        await delay(event.pauseMs);
        this.fleet.resume(target);
        this.log(`SIGCONT server ${target}: the zombie wakes up`);
        return;
      }
      case 'fault_window': {
        for (const fault of faultsOf(event)) await this.provider.addFault(fault);
        this.counts.faultWindows += 1;
        this.log(`${at} provider fault window opens: ${event.fault} (${Math.round(event.probability * 100)} %) for ${event.durationMs} ms`);
        await delay(event.durationMs);
        await this.provider.clearFaults();
        this.log(`provider fault window closes: ${event.fault}`);
        return;
      }
    }
  }

  /** Makes the crash that follows land while calls wait on the provider (see MID_FLIGHT_FAULT). */
  private async slowProviderFirst(): Promise<void> {
    await this.provider.addFault(MID_FLIGHT_FAULT);
    await delay(MID_FLIGHT_LEAD_MS);
  }

  /**
   * The preferred instance, or the next one that is up, provided another instance
   * stays up to serve: the run tests recovery, not a total outage of every instance.
   */
  private async target(preferred: number): Promise<number | undefined> {
    const deadline = Date.now() + TARGET_WAIT_MS;
    while (Date.now() < deadline && !this.stopped) {
      if (this.fleet.countIn('up') >= 2) {
        for (let step = 0; step < this.fleet.size; step++) {
          const candidate = (preferred + step) % this.fleet.size;
          if (this.fleet.state(candidate) === 'up') return candidate;
        }
      }
      await delay(TARGET_POLL_MS);
    }
    return undefined;
  }
}
