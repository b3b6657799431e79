import { expect } from 'chai';
import { backoffMs, DEFAULT_RETRY_POLICY, resolveRetryPolicy } from './retry-policy.js';

describe('retry policy', () => {
  const policy = resolveRetryPolicy({ initialBackoffMs: 100, maxBackoffMs: 1_000, backoffMultiplier: 2 });

  it('draws each backoff uniformly between 0 and the exponential bound (full jitter)', () => {
    expect(backoffMs(policy, 1, undefined, () => 0)).to.equal(0);
    expect(backoffMs(policy, 1, undefined, () => 0.5)).to.equal(50);
    expect(backoffMs(policy, 3, undefined, () => 0.999)).to.be.closeTo(399.6, 1e-9);
  });

  it('caps the bound at maxBackoffMs', () => {
    expect(backoffMs(policy, 20, undefined, () => 0.999)).to.be.closeTo(999, 1e-9);
  });

  it("never comes back sooner than the server's RetryInfo asks", () => {
    expect(backoffMs(policy, 1, 800, () => 0.5)).to.equal(800);
    expect(backoffMs(policy, 5, 100, () => 0.5)).to.equal(500);
  });

  it('fills in defaults and refuses meaningless values', () => {
    expect(resolveRetryPolicy()).to.deep.equal(DEFAULT_RETRY_POLICY);
    expect(resolveRetryPolicy({ maxAttempts: 2 }, { initialBackoffMs: 5 })).to.include({
      maxAttempts: 2,
      initialBackoffMs: 5,
      maxBackoffMs: DEFAULT_RETRY_POLICY.maxBackoffMs,
    });
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).to.throw(RangeError);
    expect(() => resolveRetryPolicy({ attemptTimeoutMs: 0 })).to.throw(RangeError);
    expect(() => resolveRetryPolicy({ backoffMultiplier: 0.5 })).to.throw(RangeError);
  });
});
