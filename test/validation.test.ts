import { randomBytes, randomUUID } from 'node:crypto';
import { status as Code, type Metadata } from '@grpc/grpc-js';
import { expect } from 'chai';
import { CaptureMethod, type Charge, ChargeStatus, type CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { STATUS_DETAILS_KEY } from '../src/grpc/to-status.js';
import { callUnary, metadata, type UnaryResult } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

/** What a stack frame looks like in a V8 stack trace. */
const STACK_FRAME = '    at ';

interface Case {
  /** What is wrong with the request, completing "for ...". */
  input: string;
  code: Code;
  /** Text the message must contain: the field it names. */
  names: string;
  call: () => Promise<UnaryResult<unknown>>;
}

describe('bad input', () => {
  let t: TestServer;
  /** A manual-capture charge still in requires_capture. */
  let uncaptured: Charge;
  /** An automatic-capture charge of 1000, succeeded. */
  let succeeded: Charge;
  /** Looks like a real key, but belongs to nobody. */
  const wrongApiKey = `sk_live_${randomBytes(24).toString('base64url')}`;

  const validCreate = (overrides: Partial<CreateChargeRequest> = {}): CreateChargeRequest => ({
    amount: '1000',
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: '',
    description: '',
    metadata: {},
    captureMethod: CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
    ...overrides,
  });
  /** This merchant's key and a fresh idempotency key. */
  const keyed = (): Metadata => t.md(randomUUID());

  before(async () => {
    t = await startTestServer();
    const manual = await callUnary(
      t.client,
      PaymentServiceClient.prototype.createCharge,
      validCreate({ captureMethod: CaptureMethod.CAPTURE_METHOD_MANUAL }),
      keyed(),
    );
    const automatic = await callUnary(t.client, PaymentServiceClient.prototype.createCharge, validCreate(), keyed());
    if (!manual.response || !automatic.response) throw new Error(`setup charges failed: ${String(manual.error ?? automatic.error)}`);
    uncaptured = manual.response;
    succeeded = automatic.response;
    expect(uncaptured.status).to.equal(ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE);
    expect(succeeded.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
  });
  after(async () => {
    await t.close();
  });

  const create = (overrides: Partial<CreateChargeRequest>) => () =>
    callUnary(t.client, PaymentServiceClient.prototype.createCharge, validCreate(overrides), keyed());
  const unknownChargeId = (): string => `ch_${randomBytes(18).toString('base64url')}`;
  const manyEntries = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

  const inputCases: Case[] = [
    { input: 'a negative amount', code: Code.INVALID_ARGUMENT, names: 'amount', call: create({ amount: '-5' }) },
    { input: 'a zero amount', code: Code.INVALID_ARGUMENT, names: 'amount', call: create({ amount: '0' }) },
    { input: 'an amount one above the maximum', code: Code.INVALID_ARGUMENT, names: 'amount', call: create({ amount: '100000000' }) },
    { input: 'the largest int64 amount', code: Code.INVALID_ARGUMENT, names: 'amount', call: create({ amount: '9223372036854775807' }) },
    { input: 'the smallest int64 amount', code: Code.INVALID_ARGUMENT, names: 'amount', call: create({ amount: '-9223372036854775808' }) },
    { input: 'an unknown currency "xyz"', code: Code.INVALID_ARGUMENT, names: 'currency', call: create({ currency: 'xyz' }) },
    { input: 'an empty currency', code: Code.INVALID_ARGUMENT, names: 'currency', call: create({ currency: '' }) },
    { input: 'a two-letter currency "US"', code: Code.INVALID_ARGUMENT, names: 'currency', call: create({ currency: 'US' }) },
    { input: 'an empty payment method', code: Code.INVALID_ARGUMENT, names: 'payment_method', call: create({ paymentMethod: '' }) },
    { input: 'a blank payment method', code: Code.INVALID_ARGUMENT, names: 'payment_method', call: create({ paymentMethod: '   ' }) },
    { input: '51 metadata entries', code: Code.INVALID_ARGUMENT, names: 'metadata', call: create({ metadata: manyEntries(51) }) },
    { input: 'a 41-character metadata key', code: Code.INVALID_ARGUMENT, names: 'metadata', call: create({ metadata: { ['k'.repeat(41)]: 'v' } }) },
    { input: 'a 501-character metadata value', code: Code.INVALID_ARGUMENT, names: 'metadata', call: create({ metadata: { k: 'v'.repeat(501) } }) },
    {
      input: 'an unknown charge id on GetCharge',
      code: Code.NOT_FOUND,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: unknownChargeId() }, t.md()),
    },
    {
      input: 'an unknown charge id on CaptureCharge',
      code: Code.NOT_FOUND,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: unknownChargeId() }, keyed()),
    },
    {
      input: 'an unknown charge id on RefundCharge',
      code: Code.NOT_FOUND,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.refundCharge, { chargeId: unknownChargeId(), reason: 0 }, keyed()),
    },
    {
      input: 'an unknown charge id on CancelCharge',
      code: Code.NOT_FOUND,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.cancelCharge, { chargeId: unknownChargeId() }, keyed()),
    },
    {
      input: 'a charge id that is not a charge id at all',
      code: Code.NOT_FOUND,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: "'; DROP TABLE charges; --" }, t.md()),
    },
    {
      input: 'an empty charge id',
      code: Code.INVALID_ARGUMENT,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: '' }, t.md()),
    },
    {
      input: 'a refund above the captured amount',
      code: Code.FAILED_PRECONDITION,
      names: 'amount',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.refundCharge, { chargeId: succeeded.id, amount: '1001', reason: 0 }, keyed()),
    },
    {
      input: 'a refund with a zero amount',
      code: Code.INVALID_ARGUMENT,
      names: 'amount',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.refundCharge, { chargeId: succeeded.id, amount: '0', reason: 0 }, keyed()),
    },
    {
      input: 'a capture of an already succeeded (automatic) charge',
      code: Code.FAILED_PRECONDITION,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: succeeded.id }, keyed()),
    },
    {
      input: 'a capture above the authorized amount',
      code: Code.INVALID_ARGUMENT,
      names: 'amount',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: uncaptured.id, amount: '1001' }, keyed()),
    },
    {
      input: 'a refund of an uncaptured charge',
      code: Code.FAILED_PRECONDITION,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.refundCharge, { chargeId: uncaptured.id, reason: 0 }, keyed()),
    },
    {
      input: 'a cancel of a succeeded charge',
      code: Code.FAILED_PRECONDITION,
      names: 'charge_id',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.cancelCharge, { chargeId: succeeded.id }, keyed()),
    },
    {
      input: 'a malformed page token',
      code: Code.INVALID_ARGUMENT,
      names: 'page_token',
      call: () => callUnary(t.client, PaymentServiceClient.prototype.listCharges, { pageSize: 10, pageToken: 'not a token!', customerId: '' }, t.md()),
    },
    {
      input: 'a well-formed base64url page token with the wrong contents',
      code: Code.INVALID_ARGUMENT,
      names: 'page_token',
      call: () =>
        callUnary(
          t.client,
          PaymentServiceClient.prototype.listCharges,
          { pageSize: 10, pageToken: Buffer.from('v2:12:').toString('base64url'), customerId: '' },
          t.md(),
        ),
    },
  ];

  /** Every RPC, called with the given metadata (plus a fresh idempotency key on mutating ones). */
  const everyRpc = (auth: Record<string, string>): Array<{ rpc: string; call: () => Promise<UnaryResult<unknown>> }> => {
    const withKey = (): Metadata => metadata({ ...auth, 'idempotency-key': randomUUID() });
    return [
      { rpc: 'CreateCharge', call: () => callUnary(t.client, PaymentServiceClient.prototype.createCharge, validCreate(), withKey()) },
      { rpc: 'CaptureCharge', call: () => callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: uncaptured.id }, withKey()) },
      {
        rpc: 'RefundCharge',
        call: () => callUnary(t.client, PaymentServiceClient.prototype.refundCharge, { chargeId: succeeded.id, reason: 0 }, withKey()),
      },
      { rpc: 'CancelCharge', call: () => callUnary(t.client, PaymentServiceClient.prototype.cancelCharge, { chargeId: uncaptured.id }, withKey()) },
      { rpc: 'GetCharge', call: () => callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: succeeded.id }, metadata(auth)) },
      {
        rpc: 'ListCharges',
        call: () => callUnary(t.client, PaymentServiceClient.prototype.listCharges, { pageSize: 10, pageToken: '', customerId: '' }, metadata(auth)),
      },
    ];
  };
  const authCases: Case[] = [
    ...everyRpc({ authorization: `Bearer ${wrongApiKey}` }).map(({ rpc, call }) => ({
      input: `a wrong API key on ${rpc}`,
      code: Code.UNAUTHENTICATED,
      names: 'API key',
      call,
    })),
    ...everyRpc({}).map(({ rpc, call }) => ({ input: `no API key on ${rpc}`, code: Code.UNAUTHENTICATED, names: 'API key', call })),
    ...everyRpc({ authorization: wrongApiKey }).map(({ rpc, call }) => ({
      input: `an API key without "Bearer" on ${rpc}`,
      code: Code.UNAUTHENTICATED,
      names: 'authorization',
      call,
    })),
  ];

  for (const c of [...inputCases, ...authCases]) {
    it(`answers ${Code[c.code]} naming ${c.names} for ${c.input}, without touching the provider or leaking internals`, async () => {
      const providerRequestsBefore = t.sim.stats().requests;

      const result = await c.call();

      expect(result.response, 'the call succeeded').to.equal(undefined);
      const error = result.error!;
      expect(Code[error.code]).to.equal(Code[c.code]);
      expect(error.code).to.not.equal(Code.INTERNAL);
      expect(error.details).to.include(c.names);
      // Nothing the client sees (message, google.rpc.Status details, trailers) carries a stack
      // trace or an API key, the merchant's or the one that was sent.
      const statusDetails = error.metadata.get(STATUS_DETAILS_KEY)[0];
      const seen = [
        error.details,
        statusDetails === undefined ? '' : JSON.stringify(decodeStatusDetails(Buffer.from(statusDetails))),
        JSON.stringify(error.metadata.toJSON()),
        JSON.stringify(result.headers.toJSON()),
      ].join('\n');
      expect(seen).to.not.include(STACK_FRAME);
      expect(seen).to.not.include(t.apiKey);
      expect(seen).to.not.include(wrongApiKey);
      // Refused before any side effect.
      expect(t.sim.stats().requests).to.equal(providerRequestsBefore);
    });
  }

  it('leaves both charges unchanged after the whole corpus', async () => {
    const [u, s] = await Promise.all([
      callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: uncaptured.id }, t.md()),
      callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: succeeded.id }, t.md()),
    ]);
    expect(u.response).to.deep.equal(uncaptured);
    expect(s.response).to.deep.equal(succeeded);
  });
});
