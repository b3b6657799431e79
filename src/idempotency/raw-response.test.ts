import { expect } from 'chai';
import { Charge, CreateChargeRequest, PaymentServiceService } from '../gen/payments/v1/payments.js';
import { RawResponse, rawRequestOf, withRawMessages } from './raw-response.js';

describe('withRawMessages', () => {
  const wrapped = withRawMessages(PaymentServiceService);

  it('lets a decoded request give back the exact bytes it came from', () => {
    const bytes = Buffer.from(
      CreateChargeRequest.encode({
        amount: '7',
        currency: 'usd',
        paymentMethod: 'pm',
        customerId: '',
        description: '',
        metadata: {},
        captureMethod: 0,
      }).finish(),
    );
    const message = wrapped.createCharge.requestDeserialize(bytes);
    expect(message.amount).to.equal('7');
    expect(rawRequestOf(message)).to.equal(bytes);
    expect(rawRequestOf(PaymentServiceService.createCharge.requestDeserialize(bytes))).to.equal(undefined);
  });

  it('sends a RawResponse byte for byte and serializes anything else as before', () => {
    const raw = Buffer.from([1, 2, 3]);
    expect(wrapped.getCharge.responseSerialize(new RawResponse(raw) as never)).to.equal(raw);
    const charge = Charge.fromPartial({ id: 'ch_1', amount: '5' });
    expect(wrapped.getCharge.responseSerialize(charge).equals(PaymentServiceService.getCharge.responseSerialize(charge))).to.equal(true);
  });
});
