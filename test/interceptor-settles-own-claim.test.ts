import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { Charge, type CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { claimOf } from '../src/idempotency/claimed-record.js';
import { MysqlIdempotencyStore } from '../src/idempotency/mysql-idempotency-store.js';
import { NeedsAttentionError } from '../src/idempotency/needs-attention-error.js';
import { noteHandlerFailure } from '../src/idempotency/settle.js';
import { sharedPool } from './support/database.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { type InterceptorServer, startInterceptorServer, TEST_API_KEY } from './support/interceptor-server.js';

const create = PaymentServiceClient.prototype.createCharge;
const REQUEST: CreateChargeRequest = {
  amount: '700',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: '',
  description: '',
  metadata: {},
  captureMethod: 0,
};

/**
 * Every path on which the interceptor answers a call whose claim it won ends
 * that claim itself: stored, released, or parked, never left in progress for
 * the completer to run again behind the client's back.
 */
describe('the interceptor settles its own claim on every path it answers', () => {
  let merchantId: string;
  let server: InterceptorServer | undefined;

  beforeEach(() => {
    merchantId = `mer_own_${randomUUID().slice(0, 8)}`;
  });
  afterEach(async () => {
    server?.close();
    server = undefined;
    await (await sharedPool()).query('DELETE FROM idempotency_keys WHERE merchant_id = ?', [merchantId]);
  });

  async function row(key: string): Promise<RowDataPacket | undefined> {
    const [rows] = await (await sharedPool()).query<RowDataPacket[]>(
      'SELECT state, attention_reason FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?',
      [merchantId, key],
    );
    return rows[0];
  }

  async function start(createCharge: grpc.handleUnaryCall<CreateChargeRequest, unknown>): Promise<InterceptorServer> {
    server = await startInterceptorServer({
      store: new MysqlIdempotencyStore(await sharedPool()),
      merchantId,
      handlers: { createCharge: createCharge as grpc.handleUnaryCall<unknown, unknown> },
    });
    return server;
  }

  const call = (s: InterceptorServer, key: string) =>
    callUnary(s.client, create, REQUEST, metadata({ authorization: `Bearer ${TEST_API_KEY}`, 'idempotency-key': key }));
  const reasonOf = (err: grpc.ServiceError | undefined) => decodeStatusDetails(err!.metadata.get('grpc-status-details-bin')[0] as Buffer).errorInfo?.reason;

  it('parks the row when a response after a side effect cannot be serialized', async () => {
    const s = await start((call, cb) => {
      claimOf(call.metadata)?.beginSideEffect(); // as a charge does before it calls the provider
      cb(null, Charge.fromPartial({ id: 'ch_1', amount: 'not a number' }));
    });
    const key = randomUUID();
    const answer = await call(s, key);
    expect(answer.error?.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(reasonOf(answer.error)).to.equal('IDEMPOTENCY_KEY_NEEDS_ATTENTION');
    expect(await row(key)).to.include({ state: 'needs_attention', attention_reason: 'response_not_serializable' });
  });

  it('releases the row when a response that had no side effect cannot be serialized, so the retry runs', async () => {
    const s = await start((_call, cb) => cb(null, Charge.fromPartial({ id: 'ch_1', amount: 'not a number' })));
    const key = randomUUID();
    expect((await call(s, key)).error?.code).to.equal(grpc.status.INTERNAL);
    expect(await row(key)).to.equal(undefined);
  });

  it('parks the row when the handler says its outcome cannot be decided after a side effect', async () => {
    const s = await start((call, cb) => {
      const claim = claimOf(call.metadata);
      claim?.beginSideEffect();
      const err = new NeedsAttentionError('provider_lookup_ambiguous', 'two provider objects carry this reference');
      noteHandlerFailure(claim, err);
      cb({ code: grpc.status.INTERNAL, details: 'internal error' });
    });
    const key = randomUUID();
    const answer = await call(s, key);
    expect(reasonOf(answer.error)).to.equal('IDEMPOTENCY_KEY_NEEDS_ATTENTION');
    expect(await row(key)).to.include({ state: 'needs_attention', attention_reason: 'provider_lookup_ambiguous' });
    // The parked row answers every retry the same way, without running the handler.
    expect(reasonOf((await call(s, key)).error)).to.equal('IDEMPOTENCY_KEY_NEEDS_ATTENTION');
  });
});
