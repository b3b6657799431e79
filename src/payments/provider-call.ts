import { ApiError } from '../grpc/api-error.js';
import { NeedsAttentionError } from '../idempotency/needs-attention-error.js';
import { ProviderAuthenticationError, ProviderInvalidRequestError, ProviderUnavailableError } from '../provider/provider-error.js';
import type { PaymentClaim } from './payment-claim.js';

/**
 * Runs one provider call, declaring the side effect to the claim first, and
 * turns provider failures into API errors by what they mean for a retry.
 */
export async function callProvider<T>(claim: PaymentClaim, call: () => Promise<T>): Promise<T> {
  claim.beginSideEffect();
  try {
    return await call();
  } catch (err) {
    if (err instanceof ProviderUnavailableError && !err.requestSent) claim.sideEffectNotPerformed();
    if (err instanceof ProviderAuthenticationError) {
      claim.sideEffectNotPerformed();
      throw ApiError.unavailable("the payment provider rejected this service's credentials; nothing was charged", {
        reason: 'PROVIDER_UNAVAILABLE',
        cause: err,
      });
    }
    if (err instanceof ProviderUnavailableError) {
      throw ApiError.unavailable(
        err.requestSent
          ? 'the payment provider did not confirm the outcome; retry with the same idempotency key to get the result (it will not charge twice)'
          : 'the payment provider is unreachable; nothing was charged, retry with the same idempotency key',
        { reason: 'PROVIDER_UNAVAILABLE', retryDelayMs: 1000, cause: err },
      );
    }
    throw err;
  }
}

/**
 * Looks up, at the provider, what an earlier attempt of a resumed request did. Only past the
 * provider's idempotency window: within it, re-sending with the same provider key is the
 * lookup (the provider answers with what it did). A refusal of the lookup itself cannot be
 * retried into an answer, so it hands the row to an operator.
 */
export async function lookUpEarlierAttempt<T>(claim: PaymentClaim, find: () => Promise<T>): Promise<T> {
  return callProvider(claim, find).catch((err: unknown) => {
    if (err instanceof ProviderInvalidRequestError) {
      throw new NeedsAttentionError('provider_lookup_refused', 'the payment provider refused to look up an earlier attempt', { cause: err });
    }
    throw err;
  });
}
