/**
 * Load generator of the cost benchmark, run as its own process so its CPU is
 * not the server's. Keeps `concurrency` unary calls in flight for a warm-up
 * and then a measured period, and prints one JSON line with the results.
 *
 *   tsx scripts/bench/load-generator.ts <plan.json>
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { CreateChargeRequest, GetChargeRequest } from '../../src/gen/payments/v1/payments.js';

export type Scenario = 'noop' | 'create-plain' | 'create-first' | 'replay' | 'get';

export interface LoadPlan {
  port: number;
  scenario: Scenario;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  apiKey: string;
  /** Completed idempotency keys (all made with BENCH_CHARGE) for `replay`. */
  replayKeys: string[];
  /** Existing charge ids for `get`. */
  chargeIds: string[];
}

export interface LoadResult {
  scenario: Scenario;
  concurrency: number;
  calls: number;
  errors: number;
  firstError: string | undefined;
  seconds: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  /** Calls made in warm-up and measurement together, and this process's CPU time over both. */
  allCalls: number;
  cpuMs: number;
}

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

async function run(plan: LoadPlan): Promise<LoadResult> {
  const client = new grpc.Client(`127.0.0.1:${plan.port}`, grpc.credentials.createInsecure());
  const path = PATHS[plan.scenario];
  const charge = Buffer.from(CreateChargeRequest.encode(BENCH_CHARGE).finish());
  const gets = plan.chargeIds.map((id) => Buffer.from(GetChargeRequest.encode({ chargeId: id }).finish()));
  let n = 0;
  const next = (): { body: Buffer; md: grpc.Metadata } => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${plan.apiKey}`);
    const i = n++;
    switch (plan.scenario) {
      case 'noop':
        return { body: Buffer.alloc(0), md };
      case 'get':
        return { body: gets[i % gets.length]!, md };
      case 'replay':
        md.set('idempotency-key', plan.replayKeys[i % plan.replayKeys.length]!);
        return { body: charge, md };
      default:
        md.set('idempotency-key', randomUUID());
        return { body: charge, md };
    }
  };
  const call = (): Promise<grpc.ServiceError | null> => {
    const { body, md } = next();
    return new Promise((resolve) =>
      client.makeUnaryRequest<Buffer, Buffer>(path, (b) => b, (b) => b, body, md, { deadline: Date.now() + 30_000 }, (err) => resolve(err)),
    );
  };

  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let measuring = false;
  let allCalls = 0;
  const cpu0 = process.cpuUsage();
  const warmupEnd = Date.now() + plan.warmupMs;
  const end = warmupEnd + plan.durationMs;
  let measureStart = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      if (!measuring && Date.now() >= warmupEnd) {
        measuring = true;
        measureStart = Date.now();
      }
      const start = process.hrtime.bigint();
      const err = await call();
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      allCalls++;
      if (!measuring) continue;
      if (err) {
        errors++;
        firstError ??= `${err.code} ${err.details}`;
      } else latencies.push(ms);
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, worker));
  const seconds = (Date.now() - measureStart) / 1000;
  const cpu = process.cpuUsage(cpu0);
  client.close();
  latencies.sort((a, b) => a - b);
  return {
    scenario: plan.scenario,
    concurrency: plan.concurrency,
    calls: latencies.length,
    errors,
    firstError,
    seconds,
    throughput: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    allCalls,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

if (require.main === module) {
  const plan = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadPlan;
  run(plan).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
