import { expect } from 'chai';
import { CreateChargeRequest } from '../gen/payments/v1/payments.js';
import { CanonicalizationError, CanonicalRequest } from './canonical-request.js';
import { canonicalBytes, FINGERPRINT_VERSION, fingerprintOf } from './fingerprint.js';

const PATH = '/payments.v1.PaymentService/CreateCharge';
const base: CreateChargeRequest = {
  amount: '1500',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: 'cus_1',
  description: 'd',
  metadata: { a: '1', b: '2' },
  captureMethod: 0,
};

/** A serializer that counts its calls, to show which comparisons re-encode. */
function countingSerializer(): { serialize: (v: unknown) => Uint8Array; calls: () => number } {
  let n = 0;
  return {
    serialize: (v) => {
      n++;
      return CreateChargeRequest.encode(v as CreateChargeRequest).finish();
    },
    calls: () => n,
  };
}

/** The row a first request with `message` stores. */
function storedRow(message: CreateChargeRequest): { fingerprint: Buffer; fingerprintVersion: number; requestBody: Buffer | null } {
  const body = canonicalBytes(message, (v) => CreateChargeRequest.encode(v as CreateChargeRequest).finish());
  return { fingerprint: fingerprintOf(PATH, body), fingerprintVersion: FINGERPRINT_VERSION, requestBody: body };
}

function arriving(message: CreateChargeRequest, raw: Buffer | undefined, serialize: (v: unknown) => Uint8Array): CanonicalRequest {
  return new CanonicalRequest(PATH, CreateChargeRequest.decode(raw ?? CreateChargeRequest.encode(message).finish()), serialize, raw);
}

describe('CanonicalRequest', () => {
  it('matches a retry that sends the stored canonical bytes without re-encoding or hashing it', () => {
    const row = storedRow(base);
    const s = countingSerializer();
    const retry = arriving(base, Buffer.from(row.requestBody!), s.serialize);
    expect(retry.samePayloadAs(row)).to.equal(true);
    expect(s.calls()).to.equal(0);
  });

  it('matches a retry with other bytes for the same request (map order) through its fingerprint', () => {
    const row = storedRow(base);
    const reordered = { ...base, metadata: { b: '2', a: '1' } };
    const raw = Buffer.from(CreateChargeRequest.encode(reordered).finish());
    expect(raw.equals(row.requestBody!)).to.equal(false);
    const s = countingSerializer();
    expect(arriving(reordered, raw, s.serialize).samePayloadAs(row)).to.equal(true);
    expect(s.calls()).to.equal(1);
  });

  it('refuses a different payload whether or not the raw bytes are known', () => {
    const row = storedRow(base);
    const other = { ...base, amount: '1501' };
    const raw = Buffer.from(CreateChargeRequest.encode(other).finish());
    expect(arriving(other, raw, countingSerializer().serialize).samePayloadAs(row)).to.equal(false);
    expect(arriving(other, undefined, countingSerializer().serialize).samePayloadAs(row)).to.equal(false);
  });

  it('compares by fingerprint for rows stored without a request body', () => {
    const row = { ...storedRow(base), requestBody: null };
    const raw = Buffer.from(CreateChargeRequest.encode(base).finish());
    expect(arriving(base, raw, countingSerializer().serialize).samePayloadAs(row)).to.equal(true);
    expect(arriving({ ...base, currency: 'eur' }, undefined, countingSerializer().serialize).samePayloadAs(row)).to.equal(false);
  });

  it('refuses a row of another fingerprint version even when the bytes are equal', () => {
    const row = { ...storedRow(base), fingerprintVersion: FINGERPRINT_VERSION + 1 };
    expect(arriving(base, Buffer.from(row.requestBody!), countingSerializer().serialize).samePayloadAs(row)).to.equal(false);
  });

  it('stores the canonical bytes and their fingerprint, computed once', () => {
    const s = countingSerializer();
    const reordered = { ...base, metadata: { b: '2', a: '1' } };
    const request = arriving(reordered, Buffer.from(CreateChargeRequest.encode(reordered).finish()), s.serialize);
    const row = storedRow(base);
    expect(request.requestBody.equals(row.requestBody!)).to.equal(true);
    expect(request.fingerprint.equals(row.fingerprint)).to.equal(true);
    expect(request.fingerprint.equals(row.fingerprint)).to.equal(true);
    expect(s.calls()).to.equal(1);
  });

  it('reports a request that cannot be canonicalized as a CanonicalizationError', () => {
    const broken = new CanonicalRequest(
      PATH,
      base,
      () => {
        throw new Error('boom');
      },
      undefined,
    );
    expect(() => broken.fingerprint).to.throw(CanonicalizationError);
  });
});
