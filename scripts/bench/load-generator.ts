/**
 * Load generator of the cost benchmark, run as its own process (forked with
 * an IPC channel) so its CPU is not the server's. It keeps `concurrency` unary
 * calls in flight against one of its targets at a time; the orchestrator runs
 * the targets in turns (slices), so the two scenarios of a ratio take turns
 * every second or so and meet the same machine (a shared box drifts by more
 * than the differences measured).
 *
 * A slice issues calls to its target from `start` until `drain`, then waits
 * for its calls in flight. Calls issued per second of that issue window are
 * the target's throughput (the calls in flight at the start and at the end
 * balance out, by Little's law), and everything the servers and the database
 * do between two drained points belongs to that slice's calls alone.
 *
 *   orchestrator → { type: 'start', target, measure }   reply { type: 'started' }
 *   orchestrator → { type: 'drain' }                    reply { type: 'slice', slice }, once nothing is in flight
 *   orchestrator → { type: 'stop' }                     reply { type: 'done', totals }
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { CreateChargeRequest, GetChargeRequest } from '../../src/gen/payments/v1/payments.js';

export type Scenario = 'noop' | 'create-plain' | 'create-first' | 'replay' | 'get';

export interface LoadTarget {
  scenario: Scenario;
  port: number;
}

export interface LoadPlan {
  targets: LoadTarget[];
  concurrency: number;
  apiKey: string;
  /** Completed idempotency keys (all made with BENCH_CHARGE) for `replay`. */
  replayKeys: string[];
  /** Existing charge ids for `get`. */
  chargeIds: string[];
}

export type ToLoadGenerator = { type: 'start'; target: number; measure: boolean } | { type: 'drain' } | { type: 'stop' };

/** One slice as the load generator saw it: calls are counted for the target they were issued to. */
export interface SliceReport {
  target: number;
  measured: boolean;
  /** Calls issued in the slice. */
  calls: number;
  /** Length of the issue window. */
  seconds: number;
  /** This process's CPU from the start of the slice until its last call returned. */
  cpuMs: number;
}

export interface TargetTotals {
  scenario: Scenario;
  /** Calls issued in measured slices that succeeded. */
  calls: number;
  errors: number;
  firstError: string | undefined;
  p50Ms: number;
  p99Ms: number;
}

export type FromLoadGenerator = { type: 'ready' } | { type: 'started' } | { type: 'slice'; slice: SliceReport } | { type: 'done'; totals: TargetTotals[] };

/** The one CreateCharge payload every scenario sends, so replays match their fingerprints. */
export const BENCH_CHARGE: CreateChargeRequest = {
  amount: '1000', currency: 'usd', paymentMethod: 'pm_card_visa', customerId: 'cus_bench', description: 'benchmark',
  metadata: { source: 'bench' }, captureMethod: 0,
};

const PATHS: Record<Scenario, string> = {
  noop: '/grpc.health.v1.Health/Check',
  'create-plain': '/payments.v1.PaymentService/CreateCharge',
  'create-first': '/payments.v1.PaymentService/CreateCharge',
  replay: '/payments.v1.PaymentService/CreateCharge',
  get: '/payments.v1.PaymentService/GetCharge',
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

interface TargetState {
  target: LoadTarget;
  client: grpc.Client;
  latencies: number[];
  errors: number;
  firstError: string | undefined;
  issued: number;
}

/** A promise with its resolve function (Node 20 has no Promise.withResolvers). */
function gate(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

class LoadGenerator {
  private readonly targets: TargetState[];
  private readonly charge: Buffer;
  private readonly gets: Buffer[];
  private slice = { target: 0, measure: false, calls: 0, start: 0n, cpu: process.cpuUsage() };
  private issuing = false;
  private stopping = false;
  /** Resolved when the next slice starts (or the generator stops); idle workers wait on it. */
  private gate = gate();
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private workers: Promise<void>[] = [];

  constructor(private readonly plan: LoadPlan) {
    // One channel per target, so switching targets never reconnects.
    this.targets = plan.targets.map((target) => ({
      target,
      client: new grpc.Client(`127.0.0.1:${target.port}`, grpc.credentials.createInsecure()),
      latencies: [],
      errors: 0,
      firstError: undefined,
      issued: 0,
    }));
    this.charge = Buffer.from(CreateChargeRequest.encode(BENCH_CHARGE).finish());
    this.gets = plan.chargeIds.map((id) => Buffer.from(GetChargeRequest.encode({ chargeId: id }).finish()));
  }

  start(target: number, measure: boolean): void {
    this.slice = { target, measure, calls: 0, start: process.hrtime.bigint(), cpu: process.cpuUsage() };
    this.issuing = true;
    if (this.workers.length === 0) this.workers = Array.from({ length: this.plan.concurrency }, () => this.worker());
    this.gate.resolve();
  }

  /** Stops issuing, waits for the calls in flight, and reports the slice. */
  async drain(): Promise<SliceReport> {
    const seconds = Number(process.hrtime.bigint() - this.slice.start) / 1e9;
    this.issuing = false;
    this.gate = gate();
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    const cpu = process.cpuUsage(this.slice.cpu);
    return { target: this.slice.target, measured: this.slice.measure, calls: this.slice.calls, seconds, cpuMs: (cpu.user + cpu.system) / 1000 };
  }

  async stop(): Promise<TargetTotals[]> {
    this.stopping = true;
    this.gate.resolve();
    await Promise.all(this.workers);
    for (const t of this.targets) t.client.close();
    return this.targets.map((t) => {
      const sorted = t.latencies.sort((a, b) => a - b);
      return { scenario: t.target.scenario, calls: sorted.length, errors: t.errors, firstError: t.firstError, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
    });
  }

  private request(state: TargetState): { body: Buffer; md: grpc.Metadata } {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.plan.apiKey}`);
    const i = state.issued++;
    switch (state.target.scenario) {
      case 'noop':
        return { body: Buffer.alloc(0), md };
      case 'get':
        return { body: this.gets[i % this.gets.length]!, md };
      case 'replay':
        md.set('idempotency-key', this.plan.replayKeys[i % this.plan.replayKeys.length]!);
        return { body: this.charge, md };
      default:
        md.set('idempotency-key', randomUUID());
        return { body: this.charge, md };
    }
  }

  private async worker(): Promise<void> {
    for (;;) {
      if (this.stopping) return;
      if (!this.issuing) {
        await this.gate.promise;
        continue;
      }
      const state = this.targets[this.slice.target]!;
      const measured = this.slice.measure;
      const { body, md } = this.request(state);
      this.slice.calls++;
      this.inFlight++;
      const start = process.hrtime.bigint();
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        state.client.makeUnaryRequest<Buffer, Buffer>(PATHS[state.target.scenario], (b) => b, (b) => b, body, md, { deadline: Date.now() + 30_000 }, (e) => resolve(e)),
      );
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (--this.inFlight === 0 && !this.issuing) this.drained?.();
      if (!measured) continue;
      if (err) {
        state.errors++;
        state.firstError ??= `${err.code} ${err.details}`;
      } else state.latencies.push(ms);
    }
  }
}

if (require.main === module) {
  const send = (message: FromLoadGenerator): void => {
    process.send!(message);
  };
  let generator: LoadGenerator | undefined;
  process.on('message', (message: LoadPlan | ToLoadGenerator) => {
    if ('targets' in message) {
      generator = new LoadGenerator(message);
      send({ type: 'ready' });
    } else if (message.type === 'start') {
      generator!.start(message.target, message.measure);
      send({ type: 'started' });
    } else if (message.type === 'drain') {
      void generator!.drain().then((slice) => send({ type: 'slice', slice }));
    } else {
      void generator!.stop().then((totals) => {
        send({ type: 'done', totals });
        process.disconnect();
      });
    }
  });
}
