import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import { ApiError } from '../grpc/api-error.js';
import { isDefinitive } from '../idempotency/outcome.js';
import { ProviderCardError, ProviderInvalidRequestError, ProviderUnavailableError } from '../provider/provider-error.js';
import { MAX_PROVIDER_TEXT_IN_STATUS, providerRefusal } from './provider-refusal.js';

describe('provider refusals', () => {
  it('turn a refused creation into INVALID_ARGUMENT naming the API field, which is stored and replayed', () => {
    const err = providerRefusal(
      new ProviderInvalidRequestError({
        message: 'Amount must be at least 50 cents',
        httpStatus: 400,
        type: 'invalid_request_error',
        code: 'amount_too_small',
        param: 'amount',
      }),
      'payment_method',
      true,
    );
    expect(err).to.be.instanceOf(ApiError);
    expect((err as ApiError).code).to.equal(Code.INVALID_ARGUMENT);
    expect((err as ApiError).message).to.match(/^amount: /);
    expect(isDefinitive((err as ApiError).code)).to.equal(true);
  });

  it('turn a refusal of a later step, or a provider idempotency conflict, into FAILED_PRECONDITION', () => {
    const later = providerRefusal(
      new ProviderInvalidRequestError({ message: 'already captured', httpStatus: 400, type: 'invalid_request_error' }),
      'charge_id',
      false,
    );
    expect((later as ApiError).code).to.equal(Code.FAILED_PRECONDITION);
    expect((later as ApiError).message).to.match(/^charge_id: /);
    const conflict = providerRefusal(
      new ProviderInvalidRequestError({ message: 'Keys for idempotent requests ...', httpStatus: 400, type: 'idempotency_error' }),
      'amount',
      true,
    );
    expect((conflict as ApiError).code).to.equal(Code.FAILED_PRECONDITION);
  });

  it('turn a decline without a PaymentIntent into FAILED_PRECONDITION with the decline code', () => {
    const err = providerRefusal(
      new ProviderCardError({ message: 'Your card was declined.', httpStatus: 402, code: 'card_declined', declineCode: 'lost_card' }),
      'charge_id',
      false,
    );
    expect((err as ApiError).code).to.equal(Code.FAILED_PRECONDITION);
    expect((err as ApiError).metadata['decline_code']).to.equal('lost_card');
    expect((err as ApiError).metadata['failure_code']).to.equal('card_declined');
    expect(isDefinitive((err as ApiError).code)).to.equal(true);
  });

  it('bound provider text in the status message and its codes, however long the provider makes them', () => {
    const long = '😀'.repeat(5000);
    const refused = providerRefusal(
      new ProviderInvalidRequestError({ message: long, httpStatus: 400, type: 'invalid_request_error' }),
      'charge_id',
      false,
    ) as ApiError;
    expect([...refused.message].length).to.be.at.most(MAX_PROVIDER_TEXT_IN_STATUS + 60);
    expect(refused.message).to.not.match(/[\uD800-\uDBFF]$/);
    const declined = providerRefusal(
      new ProviderCardError({ message: long, httpStatus: 402, code: 'c'.repeat(1000), declineCode: 'd'.repeat(1000) }),
      'charge_id',
      false,
    ) as ApiError;
    expect([...declined.message].length).to.be.at.most(MAX_PROVIDER_TEXT_IN_STATUS + 120);
    expect(declined.metadata['failure_code']).to.have.length(64);
    expect(declined.metadata['decline_code']).to.have.length(64);
  });

  it('leave failures that are not refusals (unavailable, outcome unknown) as they are', () => {
    const unavailable = new ProviderUnavailableError({ message: 'timeout', requestSent: true, reason: 'response_timeout' });
    expect(providerRefusal(unavailable, 'amount', true)).to.equal(unavailable);
  });
});
