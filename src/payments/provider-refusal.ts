import { ApiError } from '../grpc/api-error.js';
import { ProviderCardError, ProviderInvalidRequestError } from '../provider/provider-error.js';
import { truncateCodePoints } from './truncate-code-points.js';

/**
 * Provider text quoted in a status message (and stored with it for replays) is cut to this many
 * code points: the provider's message is untrusted in length, and a status message travels in a
 * header (grpc-message) that proxies limit to a few kilobytes.
 */
export const MAX_PROVIDER_TEXT_IN_STATUS = 300;
/** A provider code in ErrorInfo metadata: as wide as the column that stores such codes. */
const MAX_PROVIDER_CODE = 64;

function bounded(text: string, max = MAX_PROVIDER_TEXT_IN_STATUS): string {
  return truncateCodePoints(text, max);
}

/** Provider request parameters (snake_case) as the API's field names. */
const FIELD_OF_PARAM: Record<string, string> = {
  payment_method: 'payment_method',
  amount: 'amount',
  amount_to_capture: 'amount',
  currency: 'currency',
  customer: 'customer_id',
  description: 'description',
  payment_intent: 'charge_id',
};

/**
 * Turns a provider's definitive refusal into the API error that is stored and
 * replayed. Every refusal must become a definitive status here: one left as
 * an unknown error would be INTERNAL, which is never stored, so the key would
 * stay in progress and every retry would ask the provider again for the same
 * refusal. Errors that are not refusals (unavailable, outcome unknown) are
 * returned unchanged.
 *
 * `fallbackField` names the field when the provider does not (e.g. the
 * charge of a capture).
 */
export function providerRefusal(err: unknown, fallbackField: string, onCreate: boolean): unknown {
  if (err instanceof ProviderInvalidRequestError) {
    const field = (err.param !== undefined ? FIELD_OF_PARAM[err.param] : undefined) ?? fallbackField;
    const message = `${field}: the payment provider refused the request: ${bounded(err.message)}`;
    // On creation the refusal is about the request's own values; later it is about the charge's state.
    return onCreate && err.type !== 'idempotency_error'
      ? ApiError.invalidArgument(message, { reason: 'PROVIDER_REFUSED', metadata: { field }, cause: err })
      : ApiError.failedPrecondition(message, { reason: 'PROVIDER_REFUSED', metadata: { field }, cause: err });
  }
  if (err instanceof ProviderCardError) {
    // Both of Stripe's codes, as a charge keeps them: the error code and the network's decline code.
    const failureCode = bounded(err.code, MAX_PROVIDER_CODE);
    const declineCode = bounded(err.declineCode ?? '', MAX_PROVIDER_CODE);
    return ApiError.failedPrecondition(`${fallbackField}: the card was declined (${declineCode || failureCode}): ${bounded(err.message)}`, {
      reason: 'CARD_DECLINED',
      metadata: { field: fallbackField, failure_code: failureCode, ...(declineCode ? { decline_code: declineCode } : {}) },
      cause: err,
    });
  }
  return err;
}
