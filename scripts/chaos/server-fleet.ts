/**
 * The payment server instances of a chaos run: real `src/main.ts` processes
 * (through tsx; `npm start` runs the same code compiled), each on a fixed 127.0.0.1 port so a restarted
 * instance is found where its clients expect it.
 */

import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { jsonField, spawnTsx } from './child-processes.js';
import { addCounts, scrapeIdempotencyEvents } from './idempotency-metrics.js';

/**
 * A start fails when the database is down at that moment (migrations run first) or the
 * port is briefly not free again; it is tried again after a pause, a few times.
 */
const MAX_START_ATTEMPTS = 5;
const START_RETRY_PAUSE_MS = 2_000;

export type InstanceState = 'starting' | 'up' | 'paused' | 'down';

export interface FleetEvents {
  /** An instance ended without being told to (not a scheduled kill): a crash of the service. */
  onUnexpectedExit(instance: number, how: string): void;
}

class Instance {
  state: InstanceState = 'down';
  child: ChildProcess | undefined;
  exited: Promise<string> | undefined;
  /** Set before every exit the run causes, so the exit handler can tell a crash from a kill. */
  expectingExit = false;
  metricsPort: number | undefined;

  constructor(
    readonly index: number,
    readonly port: number,
  ) {}
}

export class ServerFleet {
  private readonly instances: Instance[];
  private closing = false;
  /** Idempotency counters of the instances' past lives, scraped just before each kill (a SIGKILL loses them). */
  readonly idempotencyEvents = new Map<string, number>();

  private constructor(
    ports: number[],
    private readonly env: Record<string, string>,
    private readonly logDir: string,
    private readonly events: FleetEvents,
  ) {
    this.instances = ports.map((port, index) => new Instance(index, port));
  }

  static async start(count: number, env: Record<string, string>, logDir: string, events: FleetEvents): Promise<ServerFleet> {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await freePort());
    const fleet = new ServerFleet(ports, env, logDir, events);
    await Promise.all(fleet.instances.map((instance) => fleet.launch(instance)));
    return fleet;
  }

  get size(): number {
    return this.instances.length;
  }

  ports(): number[] {
    return this.instances.map((i) => i.port);
  }

  state(index: number): InstanceState {
    return this.at(index).state;
  }

  pid(index: number): number | undefined {
    return this.at(index).child?.pid;
  }

  countIn(state: InstanceState): number {
    return this.instances.filter((i) => i.state === state).length;
  }

  /** SIGKILL (a crash: no graceful shutdown, in-flight calls and transactions cut off); resolves once it is gone. */
  async kill(index: number): Promise<void> {
    const instance = this.at(index);
    if (instance.child === undefined || instance.exited === undefined) return;
    if (instance.state === 'up' && instance.metricsPort !== undefined) addCounts(this.idempotencyEvents, await scrapeIdempotencyEvents(instance.metricsPort));
    instance.expectingExit = true;
    instance.child.kill('SIGKILL');
    await instance.exited;
    instance.state = 'down';
  }

  /** Starts a stopped instance on its own port again; resolves once it listens. */
  async restart(index: number): Promise<void> {
    const instance = this.at(index);
    if (instance.state !== 'down') throw new Error(`instance ${index} is ${instance.state}, not down`);
    await this.launch(instance);
  }

  /** SIGSTOP: the process keeps its sockets, leases and open transactions but does nothing. */
  pause(index: number): void {
    const instance = this.at(index);
    if (instance.state !== 'up' || !instance.child) throw new Error(`instance ${index} is ${instance.state}, not up`);
    instance.child.kill('SIGSTOP');
    instance.state = 'paused';
  }

  /** SIGCONT: the paused process goes on where it stopped, with leases long expired. */
  resume(index: number): void {
    const instance = this.at(index);
    if (instance.state !== 'paused' || !instance.child) return;
    instance.child.kill('SIGCONT');
    instance.state = 'up';
  }

  /** Brings every instance back: resumes paused ones and restarts down ones (the recovery phase). */
  async allUp(): Promise<void> {
    await Promise.all(
      this.instances.map(async (instance) => {
        if (instance.state === 'paused') this.resume(instance.index);
        if (instance.state === 'down') await this.launch(instance);
      }),
    );
  }

  /** SIGKILLs every instance; nothing is left to finish, the run has collected what it needs. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.instances.map((instance) => this.kill(instance.index)));
  }

  private at(index: number): Instance {
    const instance = this.instances[index];
    if (instance === undefined) throw new Error(`no instance ${index}`);
    return instance;
  }

  private async launch(instance: Instance): Promise<void> {
    instance.state = 'starting';
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_START_ATTEMPTS && !this.closing; attempt++) {
      try {
        const spawned = await spawnTsx(
          ['src/main.ts'],
          { ...this.env, PAYMENTS_LISTEN: `127.0.0.1:${instance.port}`, METRICS_LISTEN: '127.0.0.1:0' },
          path.join(this.logDir, `server-${instance.index}.log`),
          (line) => {
            const msg = jsonField(line, 'msg');
            if (msg === 'metrics served at /metrics') instance.metricsPort = Number(jsonField(line, 'port'));
            return msg === 'payments gRPC server listening' ? true : undefined;
          },
        );
        instance.child = spawned.child;
        instance.exited = spawned.exited;
        instance.expectingExit = this.closing;
        if (this.closing) {
          spawned.child.kill('SIGKILL');
          return;
        }
        instance.state = 'up';
        void spawned.exited.then((how) => {
          if (instance.child !== spawned.child) return;
          instance.state = 'down';
          if (!instance.expectingExit && !this.closing) {
            this.events.onUnexpectedExit(instance.index, how);
            // A crashed instance is restarted like a killed one, so the run goes on and the crash is reported.
            void this.launch(instance).catch(() => undefined);
          }
        });
        return;
      } catch (err) {
        lastError = err;
        await delay(START_RETRY_PAUSE_MS);
      }
    }
    instance.state = 'down';
    throw lastError instanceof Error ? lastError : new Error(`instance ${instance.index} did not start`);
  }
}

/** Accepts the small race between closing this probe and the server binding the port (a restart retries). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address !== null && typeof address === 'object' ? resolve(address.port) : reject(new Error('no TCP port assigned'))));
    });
  });
}
