import { status as Code, Metadata, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { encodeStatusDetails } from '../grpc/status-details.js';
import { PaymentsError } from './payments-error.js';

function serviceError(code: Code, details: string, trailers: Metadata): ServiceError {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: trailers });
}

describe('PaymentsError', () => {
  const context = { method: '/payments.v1.PaymentService/CreateCharge', idempotencyKey: 'k-1', attempts: 3 };

  it('carries the code, message, ErrorInfo reason and metadata, field, retry delay and key', () => {
    const trailers = new Metadata();
    trailers.set(
      'grpc-status-details-bin',
      encodeStatusDetails({
        code: Code.INVALID_ARGUMENT,
        message: 'amount: must be > 0',
        errorInfo: { reason: 'FIELD_INVALID', domain: 'payments.v1', metadata: { field: 'amount' } },
        retryInfo: { retryDelayMs: 1_500 },
      }),
    );
    const err = PaymentsError.from(serviceError(Code.INVALID_ARGUMENT, 'amount: must be > 0', trailers), context);
    expect(err).to.be.instanceOf(Error);
    expect(err).to.include({
      code: Code.INVALID_ARGUMENT,
      codeName: 'INVALID_ARGUMENT',
      message: 'amount: must be > 0',
      reason: 'FIELD_INVALID',
      field: 'amount',
      retryDelayMs: 1_500,
      idempotencyKey: 'k-1',
      attempts: 3,
      replayed: false,
    });
    expect(err.errorMetadata).to.deep.equal({ field: 'amount' });
  });

  it('keeps the status when the details trailer is absent or malformed', () => {
    const trailers = new Metadata();
    trailers.set('grpc-status-details-bin', Buffer.from([0xff, 0xff, 0xff]));
    const err = PaymentsError.from(serviceError(Code.UNAVAILABLE, 'down', trailers), context);
    expect(err).to.include({ code: Code.UNAVAILABLE, reason: undefined, retryDelayMs: undefined });
  });

  it('marks a replayed stored error', () => {
    const headers = new Metadata();
    headers.set('idempotent-replayed', 'true');
    expect(PaymentsError.from(serviceError(Code.NOT_FOUND, 'no such charge', new Metadata()), context, headers).replayed).to.equal(true);
  });

  it('turns anything else into UNKNOWN with the cause kept', () => {
    const cause = new Error('boom');
    const err = PaymentsError.from(cause, context);
    expect(err).to.include({ code: Code.UNKNOWN, message: 'boom' });
    expect(err.cause).to.equal(cause);
  });
});
