import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { Charge, CreateChargeRequest } from '../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { type ProviderSimulator, startProviderSimulator } from '../src/simulator/simulator.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';
import { metadata } from './support/grpc-client.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';

interface RawResult {
  bytes?: Buffer;
  error?: grpc.ServiceError;
}

/** A client per server process that sends and receives raw bytes, so answers can be compared byte for byte. */
function rawCaller(port: number): { call(req: Uint8Array, md: grpc.Metadata): Promise<RawResult>; close(): void } {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    call: (req, md) =>
      new Promise((resolve) => {
        client.makeUnaryRequest<Uint8Array, Buffer>(
          CREATE,
          (b) => Buffer.from(b),
          (b) => b,
          req,
          md,
          { deadline: Date.now() + 60_000 },
          (err, bytes) => resolve(err ? { error: err } : bytes ? { bytes } : {}),
        );
      }),
    close: () => client.close(),
  };
}

describe('exactly-once at scale across three server processes sharing one database', function () {
  this.timeout(240_000);
  let sim: ProviderSimulator;
  let servers: ServerProcess[] = [];
  let callers: Array<ReturnType<typeof rawCaller>> = [];

  before(async () => {
    sim = await startProviderSimulator();
    await sharedPool(); // migrated before the processes start, so they do not race to create tables
    // Duplicates may wait for their leader as long as their own 60 s deadline allows.
    const env = {
      MYSQL_URL: sharedDatabaseUrl(),
      PAYMENTS_PROVIDER_URL: sim.url,
      PAYMENTS_PROVIDER_SECRET_KEY: sim.secretKey,
      IDEMPOTENCY_WAIT_MS: '60000',
      PAYMENTS_MAX_IN_FLIGHT_PER_MERCHANT: '10000',
    };
    servers = await Promise.all([0, 1, 2].map(() => startServerProcess(env)));
    callers = servers.map((s) => rawCaller(s.port));
  });
  after(async () => {
    for (const c of callers) c.close();
    await Promise.all(servers.map((s) => s.stop()));
    await sim.close();
  });

  async function merchant(): Promise<{ apiKey: string; merchantId: string }> {
    return new MerchantStore(await sharedPool()).create(`scale-${randomUUID()}`);
  }

  async function chargeRows(merchantId: string): Promise<number> {
    const pool = await sharedPool();
    const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM charges WHERE merchant_id = ?', [merchantId]);
    return Number(rows[0]?.['n']);
  }

  it('turns 500 concurrent calls with one key into 1 charge row, 1 provider payment and 500 byte-identical answers', async () => {
    const { apiKey, merchantId } = await merchant();
    const order = `double-tap-${randomUUID()}`;
    const req = CreateChargeRequest.encode({
      amount: '4200',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      customerId: 'cus_tap',
      description: '',
      metadata: { order_id: order },
      captureMethod: 0,
    }).finish();
    const key = `tap-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => callers[i % 3]!.call(req, metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key }))),
    );
    const errors = results.filter((r) => r.error).map((r) => `${r.error!.code} ${r.error!.details}`);
    expect(errors, errors.slice(0, 3).join('; ')).to.deep.equal([]);
    const distinct = new Set(results.map((r) => r.bytes!.toString('base64')));
    expect(distinct.size).to.equal(1);
    expect(Charge.decode(results[0]!.bytes!).providerReference).to.match(/^pi_/);
    expect(await chargeRows(merchantId)).to.equal(1);
    expect(sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
  });

  it('turns 2,000 keys each sent 3 times at once into 2,000 charges and 2,000 provider payments', async () => {
    const { apiKey, merchantId } = await merchant();
    const batch = randomUUID();
    const calls: Array<Promise<RawResult & { key: number }>> = [];
    for (let k = 0; k < 2000; k++) {
      const req = CreateChargeRequest.encode({
        amount: String(100 + k),
        currency: 'usd',
        paymentMethod: 'pm_card_visa',
        customerId: '',
        description: '',
        metadata: { order_id: `${batch}-${k}` },
        captureMethod: 0,
      }).finish();
      for (let copy = 0; copy < 3; copy++) {
        const md = metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': `${batch}-${k}` });
        calls.push(callers[(k + copy) % 3]!.call(req, md).then((r) => ({ ...r, key: k })));
      }
    }
    const results = await Promise.all(calls);
    const errors = results.filter((r) => r.error).map((r) => `${r.error!.code} ${r.error!.details}`);
    expect(errors, errors.slice(0, 3).join('; ')).to.deep.equal([]);
    const idsByKey = new Map<number, Set<string>>();
    for (const r of results) {
      const set = idsByKey.get(r.key) ?? new Set<string>();
      set.add(Charge.decode(r.bytes!).id);
      idsByKey.set(r.key, set);
    }
    expect([...idsByKey.values()].every((s) => s.size === 1)).to.equal(true);
    expect(await chargeRows(merchantId)).to.equal(2000);
    const payments = sim.paymentIntents().filter((pi) => String(pi.metadata['order_id']).startsWith(batch));
    expect(payments).to.have.length(2000);
    expect(new Set(payments.map((pi) => pi.metadata['order_id'])).size).to.equal(2000);
  });
});
