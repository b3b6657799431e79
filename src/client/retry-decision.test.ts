import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import { isRetryable, KEY_IN_USE_REASON } from './retry-decision.js';

describe('which failures the client retries', () => {
  const cases: Array<[string, Code, string | undefined, boolean, boolean]> = [
    ['UNAVAILABLE (server, store or connection gone)', Code.UNAVAILABLE, undefined, false, true],
    ['ABORTED because the same key is still in flight', Code.ABORTED, KEY_IN_USE_REASON, false, true],
    ['ABORTED for another reason', Code.ABORTED, 'SOMETHING_ELSE', false, false],
    ["RESOURCE_EXHAUSTED at the merchant's in-flight limit (nothing claimed)", Code.RESOURCE_EXHAUSTED, 'MERCHANT_CONCURRENCY_LIMIT', false, true],
    ['RESOURCE_EXHAUSTED for another reason', Code.RESOURCE_EXHAUSTED, 'AUTHENTICATION_RATE_LIMITED', false, false],
    ['DEADLINE_EXCEEDED of one attempt', Code.DEADLINE_EXCEEDED, undefined, true, true],
    ['DEADLINE_EXCEEDED of the whole call', Code.DEADLINE_EXCEEDED, undefined, false, false],
    ['INVALID_ARGUMENT', Code.INVALID_ARGUMENT, 'IDEMPOTENCY_KEY_INVALID', false, false],
    ['FAILED_PRECONDITION (key reused)', Code.FAILED_PRECONDITION, 'IDEMPOTENCY_KEY_REUSED', false, false],
    ['FAILED_PRECONDITION (key needs attention)', Code.FAILED_PRECONDITION, 'IDEMPOTENCY_KEY_NEEDS_ATTENTION', false, false],
    ['UNAUTHENTICATED', Code.UNAUTHENTICATED, undefined, false, false],
    ['NOT_FOUND', Code.NOT_FOUND, undefined, false, false],
    ['INTERNAL', Code.INTERNAL, undefined, false, false],
    ['CANCELLED', Code.CANCELLED, undefined, false, false],
  ];
  for (const [what, code, reason, attemptTimedOut, expected] of cases) {
    it(`${expected ? 'retries' : 'does not retry'} ${what}`, () => {
      expect(isRetryable({ code, reason }, attemptTimedOut)).to.equal(expected);
    });
  }
});
