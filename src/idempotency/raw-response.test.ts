import { readFileSync } from 'node:fs';
import path from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import { countingCreateChargeDecoder } from '../../test/support/counting-decoder.js';
import { Charge, CreateChargeRequest, PaymentServiceService } from '../gen/payments/v1/payments.js';
import { ApiError } from '../grpc/api-error.js';
import { UndecodableRequest } from '../grpc/undecodable-request.js';
import { keyedMethods } from './idempotency-interceptor.js';
import { RawRequest, RawResponse, withRawMessages } from './raw-response.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';
const REQUEST: CreateChargeRequest = {
  amount: '7',
  currency: 'usd',
  paymentMethod: 'pm',
  customerId: '',
  description: '',
  metadata: {},
  captureMethod: 0,
};

describe('withRawMessages', () => {
  const wrapped = withRawMessages(PaymentServiceService);

  it('decodes a method the interceptor does not intercept at once, as grpc-js would', () => {
    const bytes = Buffer.from(CreateChargeRequest.encode(REQUEST).finish());
    const message = wrapped.createCharge.requestDeserialize(bytes);
    expect(message).to.not.be.instanceOf(RawRequest);
    expect(message).to.deep.equal(PaymentServiceService.createCharge.requestDeserialize(bytes));
  });

  it('sends a RawResponse byte for byte and serializes anything else as before', () => {
    const raw = Buffer.from([1, 2, 3]);
    expect(wrapped.getCharge.responseSerialize(new RawResponse(raw) as never)).to.equal(raw);
    const charge = Charge.fromPartial({ id: 'ch_1', amount: '5' });
    expect(wrapped.getCharge.responseSerialize(charge).equals(PaymentServiceService.getCharge.responseSerialize(charge))).to.equal(true);
  });

  it('hands a keyed method its request as a RawRequest decoded once, on first use', () => {
    const { service, decodes } = countingCreateChargeDecoder();
    const lazy = withRawMessages(service, new Set([CREATE]));
    const bytes = Buffer.from(CreateChargeRequest.encode(REQUEST).finish());
    const request: unknown = lazy.createCharge.requestDeserialize(bytes);
    expect(request).to.be.instanceOf(RawRequest);
    expect((request as RawRequest).bytes).to.equal(bytes);
    expect(decodes()).to.equal(0);
    expect(((request as RawRequest).message as CreateChargeRequest).amount).to.equal('7');
    expect((request as RawRequest).hasInvalidUtf8()).to.equal(false);
    expect((request as RawRequest).message).to.equal((request as RawRequest).message);
    expect(decodes()).to.equal(1);
  });

  it('makes RawRequests for no method unless told which, and never for a read-only one', () => {
    const bytes = Buffer.from(CreateChargeRequest.encode(REQUEST).finish());
    expect(wrapped.createCharge.requestDeserialize(bytes)).to.not.be.instanceOf(RawRequest);
    const keyed = keyedMethods(readFileSync(path.join(__dirname, '..', 'gen', 'payments.binpb')), [PaymentServiceService]);
    expect([...keyed].sort()).to.deep.equal(['CancelCharge', 'CaptureCharge', 'CreateCharge', 'RefundCharge'].map((m) => `/payments.v1.PaymentService/${m}`));
    const served = withRawMessages(PaymentServiceService, keyed);
    expect(served.getCharge.requestDeserialize(Buffer.alloc(0))).to.not.be.instanceOf(RawRequest);
    expect(served.listCharges.requestDeserialize(Buffer.alloc(0))).to.not.be.instanceOf(RawRequest);
  });

  it('tells a RawRequest with a string that is not valid UTF-8 from one that sends U+FFFD itself', () => {
    const lazy = withRawMessages(PaymentServiceService, new Set([CREATE]));
    const honest = Buffer.from(CreateChargeRequest.encode({ ...REQUEST, description: 'a\uFFFD' }).finish());
    expect((lazy.createCharge.requestDeserialize(honest) as unknown as RawRequest).hasInvalidUtf8()).to.equal(false);
    // description (field 5, length-delimited) = "a" and the byte 0xff, which is not UTF-8.
    const broken = Buffer.concat([Buffer.from(CreateChargeRequest.encode(REQUEST).finish()), Buffer.from([0x2a, 2, 0x61, 0xff])]);
    const request = lazy.createCharge.requestDeserialize(broken) as unknown as RawRequest;
    expect((request.message as CreateChargeRequest).description).to.equal('a\uFFFD');
    expect(request.hasInvalidUtf8()).to.equal(true);
  });

  it('answers bytes that do not decode INVALID_ARGUMENT naming the method, when they are first decoded', () => {
    const lazy = withRawMessages(PaymentServiceService, new Set([CREATE]));
    const request = lazy.createCharge.requestDeserialize(Buffer.from([0x0a, 0x7f])) as unknown as RawRequest;
    expect(() => request.message)
      .to.throw(ApiError, /CreateCharge request is not a valid protobuf message/)
      .with.property('code', Code.INVALID_ARGUMENT);
  });

  it('hands a method it decodes at once an UndecodableRequest for bytes that do not decode, instead of throwing into grpc-js', () => {
    const eager = withRawMessages(PaymentServiceService, new Set([CREATE]));
    const got = eager.getCharge.requestDeserialize(Buffer.from([0x0a, 0x7f]));
    expect(got).to.be.instanceOf(UndecodableRequest);
    expect((got as unknown as UndecodableRequest).error().code).to.equal(Code.INVALID_ARGUMENT);
    // Without the interceptor every method decodes at once, the mutating ones too.
    expect(withRawMessages(PaymentServiceService).createCharge.requestDeserialize(Buffer.from([0x08]))).to.be.instanceOf(UndecodableRequest);
  });
});
