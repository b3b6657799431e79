import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { PaymentServiceService } from '../gen/payments/v1/payments.js';
import { readOnlyMethods } from '../idempotency/method-options.js';
import { DESCRIPTOR_SET_PATH, keyedMethods, shippedKeyedMethods } from './keyed-methods.js';

describe('methods the client sends a key for', () => {
  it("are the proto's methods without NO_SIDE_EFFECTS, the complement of what the server lets through without a key", () => {
    const all = Object.values(PaymentServiceService).map((m) => m.path);
    const serverReads = readOnlyMethods(readFileSync(DESCRIPTOR_SET_PATH));
    expect([...shippedKeyedMethods()].sort()).to.deep.equal(all.filter((p) => !serverReads.has(p)).sort());
    expect(shippedKeyedMethods()).to.include('/payments.v1.PaymentService/CreateCharge').and.not.include('/payments.v1.PaymentService/GetCharge');
  });

  it('are read from the descriptor set, not from a list', () => {
    expect([...keyedMethods(new Uint8Array())]).to.deep.equal([]);
  });
});
