import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { InvalidPageTokenError, PageTokens } from './page-token.js';

const SCOPE = { merchantId: 'mer_a', customerId: '' };
/** The largest `seq` BIGINT UNSIGNED can hold. */
const MAX_SEQ = '18446744073709551615';

describe('PageTokens', () => {
  const tokens = new PageTokens(randomBytes(32));

  it('opens what it sealed, for every seq up to BIGINT UNSIGNED', () => {
    for (const seq of ['0', '1', '41', '9007199254740993', MAX_SEQ]) {
      expect(tokens.open(tokens.seal(seq, SCOPE), SCOPE)).to.equal(seq);
    }
  });

  it('gives 43-character tokens whatever the merchant and the filter, the longest customer_id included', () => {
    const lengths = new Set(
      ['', 'c', 'x'.repeat(255), '\u{1F600}'.repeat(255)].map((customerId) => tokens.seal(MAX_SEQ, { merchantId: `mer_${'m'.repeat(36)}`, customerId }).length),
    );
    expect([...lengths]).to.deep.equal([43]);
  });

  it('does not carry the seq in a form a client can read: neighbouring cursors share no bytes in place', () => {
    const a = Buffer.from(tokens.seal('1000', SCOPE), 'base64url');
    const b = Buffer.from(tokens.seal('1001', SCOPE), 'base64url');
    const samePlace = [...a.subarray(0, 16)].filter((byte, i) => byte === b[i]).length;
    // Two random 16-byte blocks agree in about 1/16 of a byte; a readable counter in 15 or 16.
    expect(samePlace).to.be.below(4);
    expect(a.toString('latin1')).to.not.include('1000');
  });

  it('refuses a token whose any single bit was flipped', () => {
    const token = Buffer.from(tokens.seal('12345', SCOPE), 'base64url');
    for (let bit = 0; bit < token.length * 8; bit++) {
      const tampered = Buffer.from(token);
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => tokens.open(tampered.toString('base64url'), SCOPE), `bit ${bit}`).to.throw(InvalidPageTokenError);
    }
  });

  it('refuses a token for another merchant, another filter, or sealed with another key', () => {
    const token = tokens.seal('77', { merchantId: 'mer_a', customerId: 'cus_1' });
    expect(() => tokens.open(token, { merchantId: 'mer_b', customerId: 'cus_1' })).to.throw(InvalidPageTokenError);
    expect(() => tokens.open(token, { merchantId: 'mer_a', customerId: 'cus_2' })).to.throw(InvalidPageTokenError);
    expect(() => tokens.open(token, { merchantId: 'mer_a', customerId: '' })).to.throw(InvalidPageTokenError);
    expect(() => new PageTokens(randomBytes(32)).open(token, { merchantId: 'mer_a', customerId: 'cus_1' })).to.throw(InvalidPageTokenError);
  });

  it('refuses malformed strings: wrong length, other alphabet, non-canonical base64url', () => {
    const token = tokens.seal('5', SCOPE);
    const last = token.at(-1)!;
    // 32 bytes fill 43 characters but for 2 low bits; a last character differing only there decodes alike.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!;
    for (const bad of ['', token.slice(1), `${token}A`, `${token.slice(0, -1)}=`, `${token.slice(0, -2)}+/`, token.slice(0, -1) + sibling]) {
      expect(() => tokens.open(bad, SCOPE), JSON.stringify(bad)).to.throw(InvalidPageTokenError);
    }
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => new PageTokens(randomBytes(16))).to.throw(/32 bytes/);
  });
});
