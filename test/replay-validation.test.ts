import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { Charge, CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { ApiError } from '../src/grpc/api-error.js';
import { MysqlIdempotencyStore } from '../src/idempotency/mysql-idempotency-store.js';
import { RawRequest } from '../src/idempotency/raw-response.js';
import { countingCreateChargeDecoder } from './support/counting-decoder.js';
import { sharedPool } from './support/database.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { type InterceptorServer, startInterceptorServer, TEST_API_KEY } from './support/interceptor-server.js';

const create = PaymentServiceClient.prototype.createCharge;

const REQUEST: CreateChargeRequest = {
  amount: '700',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: 'cus_v',
  description: '',
  metadata: { order: '1' },
  captureMethod: 0,
};

/**
 * Validation runs once per request, before anything is written or compared by
 * fingerprint, and not at all for a retry that carries the stored request's
 * exact bytes (the replay path: those bytes passed it when they were claimed).
 * The validator here refuses amounts of 13 and counts its runs.
 */
describe('request validation on the claim and replay paths', () => {
  let merchantId: string;
  let server: InterceptorServer | undefined;
  let validations: number;
  let handlerRuns: number;
  /** CreateCharge requests decoded by the server. */
  let decodes: () => number;
  /** What the CreateCharge handler received, each time it ran. */
  let received: unknown[];
  /** When set, the validator refuses every request (as a stricter rule deployed later would). */
  let refuseAll: boolean;

  beforeEach(async () => {
    merchantId = `mer_val_${randomUUID().slice(0, 8)}`;
    validations = 0;
    handlerRuns = 0;
    received = [];
    refuseAll = false;
    const counting = countingCreateChargeDecoder();
    decodes = counting.decodes;
    server = await startInterceptorServer({
      store: new MysqlIdempotencyStore(await sharedPool()),
      merchantId,
      service: counting.service,
      // No outcomes in memory: every retry reads the database.
      validate: (_path, request) => {
        validations++;
        const amount = (request as CreateChargeRequest).amount;
        if (refuseAll || amount === '13') throw ApiError.invalidArgument('amount 13 is refused by this test', { reason: 'FIELD_INVALID' });
      },
      handlers: {
        createCharge: (call, cb) => {
          handlerRuns++;
          received.push(call.request);
          cb(null, Charge.fromPartial({ id: `ch_${handlerRuns}`, amount: '700', currency: 'usd' }));
        },
      },
    });
  });
  afterEach(async () => {
    server?.close();
    server = undefined;
    await (await sharedPool()).query('DELETE FROM idempotency_keys WHERE merchant_id = ?', [merchantId]);
  });

  const send = (key: string, request: CreateChargeRequest) =>
    callUnary(server!.client, create, request, metadata({ authorization: `Bearer ${TEST_API_KEY}`, 'idempotency-key': key }));

  async function rows(key: string): Promise<number> {
    const [r] = await (await sharedPool()).query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?', [
      merchantId,
      key,
    ]);
    return Number(r[0]!['n']);
  }

  it('validates a first call once, and replays byte-identical retries read from the database without validating them again', async () => {
    const key = randomUUID();
    const first = await send(key, REQUEST);
    expect(first.error).to.equal(undefined);
    expect(validations).to.equal(1);
    // While most claims meet new keys, a retry's claim is an INSERT, which encodes (and so
    // validates) the request. After a run of retries the store reads first (ClaimPath), and a
    // replay is one read and a byte comparison.
    for (let i = 0; i < 40; i++) expect((await send(key, REQUEST)).error).to.equal(undefined);
    const before = validations;
    const decodedBefore = decodes();
    for (let i = 0; i < 10; i++) {
      const retry = await send(key, REQUEST);
      expect(retry.error).to.equal(undefined);
      expect(retry.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    }
    expect(validations - before).to.equal(0);
    // Nor decoded: the stored bytes are the answer's whole input.
    expect(decodes() - decodedBefore).to.equal(0);
    expect(handlerRuns).to.equal(1);
    // The handler got the decoded request, not the bytes it came in.
    expect(received).to.have.length(1);
    expect(received[0]).to.not.be.instanceOf(RawRequest);
    expect(received[0]).to.deep.equal(REQUEST);
    // The stored bytes passed validation when they were claimed: a stricter rule deployed since still replays them.
    refuseAll = true;
    const later = await send(key, REQUEST);
    expect(later.error).to.equal(undefined);
    expect(later.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(handlerRuns).to.equal(1);
  });

  it('refuses an invalid request as INVALID_ARGUMENT and writes nothing, whatever the key already holds', async () => {
    const fresh = randomUUID();
    const refused = await send(fresh, { ...REQUEST, amount: '13' });
    expect(refused.error?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(await rows(fresh)).to.equal(0);

    // A key holding another payload: the defect is reported, not the reuse.
    const used = randomUUID();
    expect((await send(used, REQUEST)).error).to.equal(undefined);
    const invalidReuse = await send(used, { ...REQUEST, amount: '13' });
    expect(invalidReuse.error?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    // A valid different payload is the reuse it is.
    const validReuse = await send(used, { ...REQUEST, amount: '701' });
    expect(validReuse.error?.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(handlerRuns).to.equal(1);
  });

  it('leaves an expired row alone when the request that meets it is invalid', async () => {
    const key = randomUUID();
    expect((await send(key, REQUEST)).error).to.equal(undefined);
    const pool = await sharedPool();
    await pool.query('UPDATE idempotency_keys SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE merchant_id = ? AND idempotency_key = ?', [merchantId, key]);
    const refused = await send(key, { ...REQUEST, amount: '13' });
    expect(refused.error?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(await rows(key)).to.equal(1);
  });

  it('answers a request that does not decode INVALID_ARGUMENT (not INTERNAL) and writes nothing, whatever its key holds', async () => {
    const sendBytes = (key: string, bytes: Buffer) =>
      new Promise<grpc.ServiceError | null>((resolve) => {
        server!.client.makeUnaryRequest(
          '/payments.v1.PaymentService/CreateCharge',
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          metadata({ authorization: `Bearer ${TEST_API_KEY}`, 'idempotency-key': key }),
          (err) => resolve(err),
        );
      });
    // Field 1 (amount, varint) cut off after its tag.
    const malformed = Buffer.from([0x08]);
    const fresh = randomUUID();
    const refused = await sendBytes(fresh, malformed);
    expect(refused?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(refused?.details).to.match(/CreateCharge request is not a valid protobuf message/);
    expect(await rows(fresh)).to.equal(0);
    const used = randomUUID();
    expect((await send(used, REQUEST)).error).to.equal(undefined);
    expect((await sendBytes(used, malformed))?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    // The stored request still replays from its exact bytes.
    const replayed = await sendBytes(used, Buffer.from(CreateChargeRequest.encode(REQUEST).finish()));
    expect(replayed).to.equal(null);
    expect(handlerRuns).to.equal(1);
  });
});
