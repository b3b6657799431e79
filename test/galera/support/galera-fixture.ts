/**
 * One 3-node Galera cluster for every test file under test/galera (starting one takes ~15 s),
 * three service instances (one per node) per test file, and calls spread over them.
 *
 * Without Galera on the machine the tests are pending with the reason printed; under CI (`CI`
 * set) they fail with the install hint instead, so a CI machine never skips them silently.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { RowDataPacket } from 'mysql2';
import { type GaleraCluster, startGaleraCluster } from '../../../scripts/galera/cluster.js';
import { findGaleraBinaries } from '../../../scripts/galera/galera-binaries.js';
import { migrate } from '../../../src/db/migrations.js';
import { createPool, type Pool } from '../../../src/db/pool.js';
import { CaptureMethod, CreateChargeRequest } from '../../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../../src/merchants/merchant-store.js';
import { type ProviderSimulator, startProviderSimulator } from '../../../src/simulator/simulator.js';
import { metadata } from '../../support/grpc-client.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../../support/test-server.js';

/** These tests send hundreds of one merchant's calls at once to each instance: the fairness limit stays out of the way. */
const ONE_MERCHANT_FLOOD = 100_000;

export const CREATE = '/payments.v1.PaymentService/CreateCharge';
/** The metadata entry that names a payment at the provider, to count provider payments per key. */
export const ORDER = 'order';

export interface Cluster {
  readonly cluster: GaleraCluster;
  /** A migrated pool per node, in node order. */
  readonly pools: readonly Pool[];
}

let shared: Promise<Cluster> | undefined;

/** The run's cluster, started on first use; stopped once every test file is done. */
export function galeraCluster(): Promise<Cluster> {
  shared ??= (async () => {
    const cluster = await startGaleraCluster({ log: process.env['GALERA_LOG'] ? (m) => process.stderr.write(`[galera] ${m}\n`) : undefined });
    const pools = cluster.urls.map((url) => createPool(url));
    await migrate(pools[0]!);
    return { cluster, pools };
  })();
  return shared;
}

// A root-level hook (registered while the first test file that needs the cluster loads).
after(async function () {
  this.timeout(120_000);
  if (shared === undefined) return;
  const { cluster, pools } = await shared.catch(() => ({ cluster: undefined, pools: [] }));
  await Promise.all(pools.map((p) => p.end()));
  await cluster?.stop();
});

/** In a `before` hook: marks the file's tests pending (or fails under CI) when Galera is missing. */
export function requireGalera(ctx: Mocha.Context): void {
  const found = findGaleraBinaries();
  if (typeof found !== 'string') return;
  if (process.env['CI']) throw new Error(found);
  console.log(`    Galera tests pending: ${found}`);
  ctx.skip();
}

export interface Instances {
  readonly sim: ProviderSimulator;
  /** One service instance per node, in node order. */
  readonly servers: readonly TestServer[];
  readonly merchantId: string;
  /** Metadata with the shared merchant's API key and an idempotency key. */
  md(key: string): grpc.Metadata;
  /** Metadata with the shared merchant's API key only (reads). */
  readMd(): grpc.Metadata;
  close(): Promise<void>;
}

/** Three instances, one per node, sharing one provider simulator and one merchant. */
export async function startInstances(c: Cluster, options: TestServerOptions = {}): Promise<Instances> {
  const sim = await startProviderSimulator();
  const servers = await Promise.all(c.pools.map((pool) => startTestServer({ maxInFlightPerMerchant: ONE_MERCHANT_FLOOD, ...options, pool, sim })));
  const { apiKey, merchantId } = await new MerchantStore(c.pools[0]!).create(`galera-${randomUUID()}`);
  return {
    sim,
    servers,
    merchantId,
    md: (key) => metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key }),
    readMd: () => metadata({ authorization: `Bearer ${apiKey}` }),
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
      await sim.close();
    },
  };
}

export function chargeRequest(order: string): Uint8Array {
  return CreateChargeRequest.encode({
    amount: '1999',
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: 'cus_galera',
    description: '',
    metadata: { [ORDER]: order },
    captureMethod: CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
  }).finish();
}

export interface RawAnswer {
  bytes?: Buffer;
  error?: grpc.ServiceError;
}

/** Raw-bytes clients, one per instance, so answers compare byte for byte. */
export class RawCallers {
  private readonly clients: grpc.Client[];

  constructor(servers: readonly TestServer[]) {
    this.clients = servers.map((s) => new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure()));
  }

  create(instance: number, request: Uint8Array, md: grpc.Metadata, deadlineMs: number): Promise<RawAnswer> {
    const client = this.clients[instance % this.clients.length]!;
    return new Promise((resolve) => {
      client.makeUnaryRequest<Uint8Array, Buffer>(
        CREATE,
        (b) => Buffer.from(b),
        (b) => b,
        request,
        md,
        { deadline: Date.now() + deadlineMs },
        (err, bytes) => resolve(err ? { error: err } : { ...(bytes ? { bytes } : {}) }),
      );
    });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

/** Codes a client retries on, with the same key, possibly on another instance. */
export const RETRYABLE: ReadonlySet<grpc.status> = new Set([grpc.status.UNAVAILABLE, grpc.status.ABORTED, grpc.status.DEADLINE_EXCEEDED]);

/** Charge rows of a merchant (read on `pool`, causally), and provider payments per order. */
export async function chargeRows(pool: Pool, merchantId: string): Promise<number> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM charges WHERE merchant_id = ?', [merchantId]);
  return Number(rows[0]?.['n']);
}

export function providerPaymentsByOrder(sim: ProviderSimulator): Record<string, number> {
  return sim.stats({ groupBy: ORDER }).paymentIntentsGroupedBy?.counts ?? {};
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function inBatches<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await task(items[i]!, i);
      }
    }),
  );
}
