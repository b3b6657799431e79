import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { CreateChargeRequest } from '../gen/payments/v1/payments.js';
import { canonicalBytes, canonicalize, FINGERPRINT_VERSION, fingerprint } from './fingerprint.js';

const PATH = '/payments.v1.PaymentService/CreateCharge';
const serialize = (v: unknown): Uint8Array => CreateChargeRequest.encode(v as CreateChargeRequest).finish();
const base: CreateChargeRequest = {
  amount: '1500',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: 'cus_1',
  description: 'd',
  metadata: { a: '1', b: '2' },
  captureMethod: 0,
};

describe('request fingerprint', () => {
  it('is SHA-256 over "v<version>\\n<method>\\n" and the canonical bytes (rows stored by earlier releases keep matching)', () => {
    const expected = createHash('sha256').update(`v${FINGERPRINT_VERSION}\n${PATH}\n`).update(canonicalBytes(base, serialize)).digest();
    expect(fingerprint(PATH, base, serialize).equals(expected)).to.equal(true);
    expect(fingerprint(PATH, base, serialize)).to.have.length(32);
  });
  it('is equal for map entries inserted in another order', () => {
    const reordered = { ...base, metadata: { b: '2', a: '1' } };
    expect(CreateChargeRequest.encode(reordered).finish()).to.not.deep.equal(CreateChargeRequest.encode(base).finish());
    expect(fingerprint(PATH, reordered, serialize)).to.deep.equal(fingerprint(PATH, base, serialize));
  });
  it('is equal for a request decoded from bytes with unknown fields, explicit defaults and other field order', () => {
    const canonical = CreateChargeRequest.encode(base).finish();
    // field 7 (capture_method) explicitly 0, field 99 unknown, then the canonical fields.
    const noisy = Buffer.concat([Buffer.from([0x38, 0x00]), Buffer.from([0x9a, 0x06, 0x01, 0x78]), Buffer.from(canonical)]);
    const decoded = CreateChargeRequest.decode(noisy);
    expect(fingerprint(PATH, decoded, serialize)).to.deep.equal(fingerprint(PATH, base, serialize));
  });
  for (const [field, change] of [
    ['amount', { amount: '1501' }],
    ['currency', { currency: 'eur' }],
    ['payment method', { paymentMethod: 'pm_card_mastercard' }],
    ['customer', { customerId: 'cus_2' }],
    ['metadata value', { metadata: { a: '1', b: '3' } }],
    ['capture method', { captureMethod: 2 }],
  ] as const) {
    it(`differs when the ${field} differs`, () => {
      expect(fingerprint(PATH, { ...base, ...change }, serialize)).to.not.deep.equal(fingerprint(PATH, base, serialize));
    });
  }
  it('differs for the same payload on another method', () => {
    expect(fingerprint('/payments.v1.PaymentService/Other', base, serialize)).to.not.deep.equal(fingerprint(PATH, base, serialize));
  });
  it('sorts nested objects recursively and leaves arrays and bytes in order', () => {
    expect(JSON.stringify(canonicalize({ b: { d: 1, c: [3, 1] }, a: 1 }))).to.equal('{"a":1,"b":{"c":[3,1],"d":1}}');
  });
});
