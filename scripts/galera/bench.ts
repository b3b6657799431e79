/**
 * Throughput of first calls and of replays on a 3-node Galera cluster against a single node,
 * with the same harness in one run: three service instances (in this process), on the
 * cluster one per node, on the single node all on it; one shared provider simulator; a
 * closed-loop load of `--concurrency` calls spread round-robin over the instances. The cluster
 * is measured twice, with causal reads (the default, see src/db/pool.ts) and without, which is
 * what `wsrep_sync_wait` costs.
 *
 *   npm run -s bench:galera [-- --quick] [--duration-ms 8000 --concurrency 64]
 *
 * Replays are read from the database (the instances keep no outcomes in memory), so they
 * measure the store. Everything shares this machine's cores: three database servers on the
 * cluster against one.
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startLocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { CaptureMethod, CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import { createLogger } from '../../src/logger.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { ProviderClient } from '../../src/provider/provider-client.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { type ProviderSimulator, startProviderSimulator } from '../../src/simulator/simulator.js';
import { startGaleraCluster } from './cluster.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';
const INSTANCES = 3;
/** Keys completed before the replay scenario, replayed at random. */
const REPLAY_KEYS = 500;
/** Warm-up before each measured scenario: connections, JIT. */
const WARMUP_MS = 1_000;
/** A call's deadline; far above any latency seen here, so only a stuck call hits it. */
const CALL_DEADLINE_MS = 30_000;

interface Result {
  target: string;
  scenario: string;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function log(message: string): void {
  process.stderr.write(`[bench:galera] ${message}\n`);
}

function request(): Uint8Array {
  return CreateChargeRequest.encode({
    amount: '1999',
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: '',
    description: '',
    metadata: {},
    captureMethod: CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
  }).finish();
}

class Target {
  private constructor(
    readonly servers: RunningServer[],
    private readonly clients: grpc.Client[],
    private readonly md: (key: string) => grpc.Metadata,
    private readonly providers: ProviderClient[],
  ) {}

  static async start(pools: Pool[], sim: ProviderSimulator): Promise<Target> {
    await migrate(pools[0]!);
    const { apiKey } = await new MerchantStore(pools[0]!).create(`bench-${randomUUID()}`);
    const providers = pools.map(() => new ProviderClient({ baseUrl: sim.url, secretKey: sim.secretKey }));
    const servers = await Promise.all(
      pools.map((pool, i) =>
        startServer({
          pool,
          provider: providers[i]!,
          log: createLogger('silent'),
          listen: '127.0.0.1:0',
          ttlSeconds: 86_400,
          leaseSeconds: 30,
          inFlightWaitMs: 10_000,
          replayCacheEntries: 0,
          maxInFlightPerMerchant: 1_000_000,
        }),
      ),
    );
    const clients = servers.map((s) => new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure()));
    const md = (key: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set('authorization', `Bearer ${apiKey}`);
      m.set('idempotency-key', key);
      return m;
    };
    return new Target(servers, clients, md, providers);
  }

  call(i: number, key: string, body: Uint8Array): Promise<boolean> {
    const client = this.clients[i % this.clients.length]!;
    return new Promise((resolve) => {
      client.makeUnaryRequest<Uint8Array, Buffer>(
        CREATE,
        (b) => Buffer.from(b),
        (b) => b,
        body,
        this.md(key),
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (err) => resolve(err === null),
      );
    });
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all(this.servers.map((s) => s.shutdown(1_000)));
    for (const p of this.providers) p.close();
  }
}

/** A closed loop of `concurrency` callers for `durationMs`; `nextKey` picks each call's key. */
async function load(target: Target, concurrency: number, durationMs: number, nextKey: () => string): Promise<Omit<Result, 'target' | 'scenario'>> {
  const body = request();
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const end = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const started = process.hrtime.bigint();
        const ok = await target.call(n++, nextKey(), body);
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        if (!ok) errors++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10;
  return { callsPerSecond: Math.round(latencies.length / (durationMs / 1000)), p50Ms: at(0.5), p99Ms: at(0.99), errors };
}

async function measure(name: string, pools: Pool[], sim: ProviderSimulator, concurrency: number, durationMs: number): Promise<Result[]> {
  const target = await Target.start(pools, sim);
  try {
    const fresh = (): string => `first-${randomUUID()}`;
    await load(target, concurrency, WARMUP_MS, fresh);
    const first = await load(target, concurrency, durationMs, fresh);
    const replayKeys = Array.from({ length: REPLAY_KEYS }, () => `replay-${randomUUID()}`);
    for (let i = 0; i < replayKeys.length; i++) await target.call(i, replayKeys[i]!, request());
    const replayed = (): string => replayKeys[Math.floor(Math.random() * replayKeys.length)]!;
    await load(target, concurrency, WARMUP_MS, replayed);
    const replay = await load(target, concurrency, durationMs, replayed);
    log(`${name}: first ${first.callsPerSecond}/s, replay ${replay.callsPerSecond}/s`);
    return [
      { target: name, scenario: 'first call', ...first },
      { target: name, scenario: 'replay (from the database)', ...replay },
    ];
  } finally {
    await target.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, 'duration-ms': { type: 'string' }, concurrency: { type: 'string' } },
  });
  const durationMs = Number(values['duration-ms'] ?? (values.quick ? 3_000 : 8_000));
  const concurrency = Number(values.concurrency ?? (values.quick ? 32 : 64));
  const sim = await startProviderSimulator();
  const results: Result[] = [];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'payments-bench-galera-single-'));
  try {
    log('single node');
    const single = await startLocalMysql({ dataDir });
    const singlePools = Array.from({ length: INSTANCES }, () => createPool(single.url));
    try {
      results.push(...(await measure('single node', singlePools, sim, concurrency, durationMs)));
    } finally {
      await Promise.all(singlePools.map((p) => p.end()));
      await single.stop();
    }
    log('3-node Galera cluster');
    const cluster = await startGaleraCluster({ log });
    try {
      for (const causalReads of [true, false]) {
        const pools = cluster.urls.map((url) => createPool(url, undefined, { causalReads }));
        try {
          results.push(...(await measure(`Galera, 3 nodes${causalReads ? '' : ', no causal reads'}`, pools, sim, concurrency, durationMs)));
        } finally {
          await Promise.all(pools.map((p) => p.end()));
        }
      }
    } finally {
      await cluster.stop();
    }
  } finally {
    await sim.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.stdout.write(`${INSTANCES} instances, concurrency ${concurrency}, ${durationMs} ms per scenario, ${os.cpus().length} cores\n\n`);
  process.stdout.write('| target | scenario | calls/s | p50 ms | p99 ms | errors |\n|---|---|---:|---:|---:|---:|\n');
  for (const r of results) process.stdout.write(`| ${r.target} | ${r.scenario} | ${r.callsPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.errors} |\n`);
  if (results.some((r) => r.errors > 0)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
