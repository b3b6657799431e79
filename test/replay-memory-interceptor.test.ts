import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { Charge, CreateChargeRequest, PaymentServiceClient, PaymentServiceService } from '../src/gen/payments/v1/payments.js';
import { CompletedOutcomes } from '../src/idempotency/completed-outcomes.js';
import { canonicalBytes, FINGERPRINT_VERSION, fingerprintOf } from '../src/idempotency/fingerprint.js';
import type { IdempotencyStore } from '../src/idempotency/idempotency-store.js';
import { MysqlIdempotencyStore } from '../src/idempotency/mysql-idempotency-store.js';
import { RecoveryPoint } from '../src/idempotency/record.js';
import { sharedPool } from './support/database.js';
import { callUnary, metadata, type UnaryResult } from './support/grpc-client.js';
import { type InterceptorServer, startInterceptorServer, TEST_API_KEY } from './support/interceptor-server.js';

const CREATE = PaymentServiceService.createCharge.path;
const create = PaymentServiceClient.prototype.createCharge;
const refund = PaymentServiceClient.prototype.refundCharge;

const REQUEST: CreateChargeRequest = {
  amount: '700',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: 'cus_m',
  description: '',
  metadata: { order: '1' },
  captureMethod: 0,
};

/**
 * The interceptor with completed outcomes in memory on fake clocks, in front
 * of the real MySQL store wrapped to count the statements a call sends (and,
 * where a test says so, to let time pass while a statement is in flight).
 */
describe('replays from memory, at the interceptor', () => {
  const clock = { mono: 0, wall: Date.parse('2026-01-02T00:00:00Z') };
  const advance = (ms: number): void => {
    clock.mono += ms;
    clock.wall += ms;
  };
  let merchantId: string;
  let store: MysqlIdempotencyStore;
  let counted: IdempotencyStore;
  let statements: number;
  /** Milliseconds that pass on the fake clocks while each claim is in flight. */
  let claimTakesMs: number;
  let handlerRuns: number;
  let server: InterceptorServer | undefined;

  beforeEach(async () => {
    merchantId = `mer_mem_${randomUUID().slice(0, 8)}`;
    store = new MysqlIdempotencyStore(await sharedPool());
    statements = 0;
    claimTakesMs = 0;
    handlerRuns = 0;
    const wrapped = Object.create(store) as MysqlIdempotencyStore;
    wrapped.claim = async (input) => {
      statements++;
      const result = await store.claim(input);
      advance(claimTakesMs);
      return result;
    };
    wrapped.read = async (scope, key) => {
      statements++;
      return store.read(scope, key);
    };
    wrapped.takeOver = async (record, leaseSeconds) => {
      statements++;
      return store.takeOver(record, leaseSeconds);
    };
    counted = wrapped;
  });
  afterEach(async () => {
    server?.close();
    server = undefined;
    await (await sharedPool()).query('DELETE FROM idempotency_keys WHERE merchant_id = ?', [merchantId]);
  });

  async function start(o: { store?: IdempotencyStore; ttlSeconds?: number; maxWaitMs?: number } = {}): Promise<InterceptorServer> {
    server = await startInterceptorServer({
      store: o.store ?? counted,
      merchantId,
      ttlSeconds: o.ttlSeconds ?? 60,
      maxWaitMs: o.maxWaitMs ?? 5000,
      completedOutcomes: new CompletedOutcomes(100, { mono: () => clock.mono, wall: () => clock.wall }),
      handlers: {
        createCharge: (_call, cb) => {
          handlerRuns++;
          cb(null, Charge.fromPartial({ id: `ch_${handlerRuns}`, amount: '700', currency: 'usd' }));
        },
      },
    });
    return server;
  }

  const call = (s: InterceptorServer, key: string, request: CreateChargeRequest = REQUEST): Promise<UnaryResult<Charge>> =>
    callUnary(s.client, create, request, metadata({ authorization: `Bearer ${TEST_API_KEY}`, 'idempotency-key': key }));

  it('answers retries and key reuse from memory after the leader stored its outcome, without a statement', async () => {
    const s = await start();
    const key = randomUUID();
    const first = await call(s, key);
    expect(first.response?.id).to.equal('ch_1');
    statements = 0;
    const again = await call(s, key);
    expect(again.response?.id).to.equal('ch_1');
    expect(again.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    const otherAmount = await call(s, key, { ...REQUEST, amount: '701' });
    expect(otherAmount.error?.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(otherAmount.error?.details).to.match(/different request payload/);
    const otherMethod = await callUnary(
      s.client,
      refund,
      { chargeId: 'ch_1', amount: '1', reason: 0 },
      metadata({ authorization: `Bearer ${TEST_API_KEY}`, 'idempotency-key': key }),
    );
    expect(otherMethod.error?.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(otherMethod.error?.details).to.match(/already used for \/payments\.v1\.PaymentService\/CreateCharge/);
    expect(statements).to.equal(0);
    expect(handlerRuns).to.equal(1);
  });

  it('keeps nothing when the leader was fenced out: the retry goes to the database', async () => {
    const fenced = Object.create(counted) as MysqlIdempotencyStore;
    fenced.complete = async () => undefined; // another attempt took the row over: nothing was stored
    const s = await start({ store: fenced, maxWaitMs: 100 });
    const key = randomUUID();
    expect((await call(s, key)).error?.code).to.equal(grpc.status.ABORTED);
    statements = 0;
    const retry = await call(s, key);
    expect(statements).to.be.greaterThan(0);
    expect(retry.headers.get('idempotent-replayed')).to.deep.equal([]);
    expect(retry.error?.code).to.equal(grpc.status.ABORTED); // the row is still in progress under its lease
  });

  it("lapses 5 s before the key's expiry, counted from before the claim was sent", async () => {
    // An 8 s key lives 3 s in memory. Each claim takes 1 s on the clocks: counted from after it,
    // the entry would still be there at 3 s.
    claimTakesMs = 1_000;
    const s = await start({ ttlSeconds: 8 });
    const key = randomUUID();
    const sentAt = clock.mono;
    await call(s, key);
    // The life is the stored expiry less the database's NOW(6) read after the completion, so it
    // is short of 3 s by the real time between those statements: checked well inside it.
    advance(sentAt + 2_500 - clock.mono);
    statements = 0;
    expect((await call(s, key)).headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(statements).to.equal(0);
    advance(500);
    const read = await call(s, key);
    expect(read.response?.id).to.equal('ch_1');
    expect(read.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(statements).to.equal(1);
  });

  it('remembers the outcome of a row it took over and completed', async () => {
    const key = randomUUID();
    const serialize = (v: unknown): Uint8Array => CreateChargeRequest.encode(v as CreateChargeRequest).finish();
    const canonical = canonicalBytes(REQUEST, serialize);
    // An earlier attempt claimed the key and its lease is over (0 s).
    await store.claim({
      scope: merchantId,
      key,
      method: CREATE,
      payload: { fingerprint: fingerprintOf(CREATE, canonical), fingerprintVersion: FINGERPRINT_VERSION, requestBody: canonical },
      recoveryPoint: RecoveryPoint.ProviderRequested,
      ttlSeconds: 60,
      leaseSeconds: 0,
    });
    const s = await start();
    const resumed = await call(s, key);
    expect(resumed.response?.id).to.equal('ch_1');
    statements = 0;
    const again = await call(s, key);
    expect(again.response?.id).to.equal('ch_1');
    expect(again.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(statements).to.equal(0);
    expect(handlerRuns).to.equal(1);
  });
});
