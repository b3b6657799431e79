/**
 * Load generator of the cost benchmark, run as its own process (forked with
 * an IPC channel) so its CPU is not the server's. It keeps `concurrency` unary
 * calls in flight against one of its targets at a time; the orchestrator runs
 * the targets in turns (slices), so the two scenarios of a ratio take turns
 * every second or so and meet the same machine (a shared box drifts by more
 * than the differences measured).
 *
 * A slice issues calls to its target from `start` until `drain`, then waits
 * for its calls in flight, so the servers' and the database's work between
 * two drained points is that slice's calls' work (plus background work, which
 * the orchestrator's slice pattern spreads over both targets). A slice starts
 * with all `concurrency` calls sent at once, so its first moments are not
 * steady: throughput counts the calls that complete from a settling time
 * (twice the target's recent mean latency, at most SETTLE_MAX_MS) until
 * `drain`, per second of that window, and latencies are those of the calls
 * issued in it.
 *
 *   orchestrator → { type: 'start', target, measure }   reply { type: 'started' }
 *   orchestrator → { type: 'drain' }                    reply { type: 'slice', slice }, once nothing is in flight
 *   orchestrator → { type: 'stop' }                     reply { type: 'done', totals }
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { CreateChargeRequest, GetChargeRequest } from '../../src/gen/payments/v1/payments.js';

export type Scenario = 'noop' | 'create-plain' | 'create-first' | 'replay' | 'replay-db' | 'get';

export interface LoadTarget {
  scenario: Scenario;
  port: number;
}

export interface LoadPlan {
  targets: LoadTarget[];
  concurrency: number;
  apiKey: string;
  /** Completed idempotency keys (all made with BENCH_CHARGE) for `replay` and `replay-db`. */
  replayKeys: string[];
  /** Existing charge ids for `get`. */
  chargeIds: string[];
}

export type ToLoadGenerator = { type: 'start'; target: number; measure: boolean } | { type: 'drain' } | { type: 'stop' };

/** One slice as the load generator saw it: calls are counted for the target they were issued to. */
export interface SliceReport {
  target: number;
  measured: boolean;
  /** Calls issued in the slice: all the work between the slice's two drained points. */
  issued: number;
  /** Calls that succeeded within the steady window (after settling, before `drain`). */
  completed: number;
  /** Length of the steady window. */
  seconds: number;
  /** This process's CPU from the start of the slice until its last call returned. */
  cpuMs: number;
}

export interface TargetTotals {
  scenario: Scenario;
  /** Calls issued in the steady windows of measured slices that succeeded (the latency samples). */
  calls: number;
  errors: number;
  firstError: string | undefined;
  p50Ms: number;
  p99Ms: number;
}

export type FromLoadGenerator = { type: 'ready' } | { type: 'started' } | { type: 'slice'; slice: SliceReport } | { type: 'done'; totals: TargetTotals[] };

/** The one CreateCharge payload every scenario sends, so replays match their fingerprints. */
export const BENCH_CHARGE: CreateChargeRequest = {
  amount: '1000',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: 'cus_bench',
  description: 'benchmark',
  metadata: { source: 'bench' },
  captureMethod: 0,
};

const PATHS: Record<Scenario, string> = {
  noop: '/grpc.health.v1.Health/Check',
  'create-plain': '/payments.v1.PaymentService/CreateCharge',
  'create-first': '/payments.v1.PaymentService/CreateCharge',
  replay: '/payments.v1.PaymentService/CreateCharge',
  'replay-db': '/payments.v1.PaymentService/CreateCharge',
  get: '/payments.v1.PaymentService/GetCharge',
};

/** Longest settling time at the start of a slice (at 256 concurrent calls a call takes 100-350 ms here). */
const SETTLE_MAX_MS = 400;

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
  /** Mean latency of the target's last slice, for the next slice's settling time. */
  meanLatencyMs: number;
}

interface Slice {
  target: number;
  measure: boolean;
  start: bigint;
  /** Start of the steady window. */
  steadyFrom: bigint;
  /** When `drain` arrived; undefined while issuing. */
  drainAt: bigint | undefined;
  issued: number;
  completed: number;
  latencySumMs: number;
  returned: number;
  cpu: NodeJS.CpuUsage;
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
  private slice: Slice | undefined;
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
      meanLatencyMs: 0,
    }));
    this.charge = Buffer.from(CreateChargeRequest.encode(BENCH_CHARGE).finish());
    this.gets = plan.chargeIds.map((id) => Buffer.from(GetChargeRequest.encode({ chargeId: id }).finish()));
  }

  start(target: number, measure: boolean): void {
    const start = process.hrtime.bigint();
    const settleMs = Math.min(SETTLE_MAX_MS, 2 * this.targets[target]!.meanLatencyMs);
    this.slice = {
      target,
      measure,
      start,
      steadyFrom: start + BigInt(Math.round(settleMs * 1e6)),
      drainAt: undefined,
      issued: 0,
      completed: 0,
      latencySumMs: 0,
      returned: 0,
      cpu: process.cpuUsage(),
    };
    this.issuing = true;
    if (this.workers.length === 0) this.workers = Array.from({ length: this.plan.concurrency }, () => this.worker());
    this.gate.resolve();
  }

  /** Stops issuing, waits for the calls in flight, and reports the slice. */
  async drain(): Promise<SliceReport> {
    const slice = this.slice;
    if (!slice) throw new Error('drain before any slice started');
    slice.drainAt = process.hrtime.bigint();
    this.issuing = false;
    this.gate = gate();
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    const cpu = process.cpuUsage(slice.cpu);
    if (slice.returned > 0) this.targets[slice.target]!.meanLatencyMs = slice.latencySumMs / slice.returned;
    return {
      target: slice.target,
      measured: slice.measure,
      issued: slice.issued,
      completed: slice.completed,
      seconds: Math.max(0, Number(slice.drainAt - slice.steadyFrom) / 1e9),
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
  }

  async stop(): Promise<TargetTotals[]> {
    this.stopping = true;
    this.gate.resolve();
    await Promise.all(this.workers);
    for (const t of this.targets) t.client.close();
    return this.targets.map((t) => {
      const sorted = t.latencies.sort((a, b) => a - b);
      return {
        scenario: t.target.scenario,
        calls: sorted.length,
        errors: t.errors,
        firstError: t.firstError,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
      };
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
      case 'replay-db':
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
      const slice = this.slice!;
      const state = this.targets[slice.target]!;
      const { body, md } = this.request(state);
      slice.issued++;
      this.inFlight++;
      const start = process.hrtime.bigint();
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        state.client.makeUnaryRequest<Buffer, Buffer>(
          PATHS[state.target.scenario],
          (b) => b,
          (b) => b,
          body,
          md,
          { deadline: Date.now() + 30_000 },
          (e) => resolve(e),
        ),
      );
      const end = process.hrtime.bigint();
      const ms = Number(end - start) / 1e6;
      slice.latencySumMs += ms;
      slice.returned++;
      if (--this.inFlight === 0 && !this.issuing) this.drained?.();
      if (!slice.measure) continue;
      if (err) {
        state.errors++;
        state.firstError ??= `${err.code} ${err.details}`;
        continue;
      }
      if (end >= slice.steadyFrom && (slice.drainAt === undefined || end <= slice.drainAt)) slice.completed++;
      if (start >= slice.steadyFrom) state.latencies.push(ms);
    }
  }
}

if (require.main === module) {
  const send = (message: FromLoadGenerator, then?: () => void): void => {
    if (then) process.send!(message, () => then());
    else process.send!(message);
  };
  // An orchestrator that died must not leave this process loading the servers.
  process.on('disconnect', () => process.exit(1));
  let generator: LoadGenerator | undefined;
  process.on('message', (message: LoadPlan | ToLoadGenerator) => {
    if ('targets' in message) {
      generator = new LoadGenerator(message);
      send({ type: 'ready' });
    } else if (message.type === 'start') {
      generator!.start(message.target, message.measure);
      send({ type: 'started' });
    } else if (message.type === 'drain') {
      generator!.drain().then(
        (slice) => send({ type: 'slice', slice }),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
    } else {
      void generator!.stop().then((totals) => send({ type: 'done', totals }, () => process.exit(0)));
    }
  });
}
