import type { PaymentIntent } from './provider-types.js';

/**
 * What a failed provider call means for exactly-once (DESIGN §3). This, not the HTTP status, is
 * what the caller must branch on:
 * - `definitive`: the provider answered with a final result (a decline, an invalid request).
 *   Store it as the outcome of the idempotency key and replay it.
 * - `no_side_effect`: the provider certainly did nothing (the request never reached it, or it was
 *   rejected before any processing). Release the key; a retry runs as new.
 * - `unknown`: the request may or may not have been processed. Keep the key in flight at its
 *   recovery point and re-send later with the SAME provider idempotency key, so the provider
 *   deduplicates.
 */
export const PROVIDER_OUTCOMES = ['definitive', 'no_side_effect', 'unknown'] as const;
export type ProviderOutcome = (typeof PROVIDER_OUTCOMES)[number];

/** Base of every error ProviderClient rejects with. */
export abstract class ProviderError extends Error {
  abstract readonly outcome: ProviderOutcome;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** HTTP 402 `card_error`: the card was declined. A business result, replayed as such. */
export class ProviderCardError extends ProviderError {
  readonly outcome: ProviderOutcome = 'definitive';
  readonly httpStatus: number;
  /** Stripe's error code, e.g. `card_declined`, `expired_card`, `incorrect_cvc`. */
  readonly code: string;
  /** Stripe's decline code, e.g. `generic_decline`, `insufficient_funds`. */
  readonly declineCode: string | undefined;
  /** The PaymentIntent the declined confirmation left behind (`error.payment_intent`). */
  readonly paymentIntent: PaymentIntent | undefined;
  readonly requestId: string | undefined;

  constructor(init: {
    message: string;
    httpStatus: number;
    code: string;
    declineCode?: string | undefined;
    paymentIntent?: PaymentIntent | undefined;
    requestId?: string | undefined;
  }) {
    super(init.message);
    this.httpStatus = init.httpStatus;
    this.code = init.code;
    this.declineCode = init.declineCode;
    this.paymentIntent = init.paymentIntent;
    this.requestId = init.requestId;
  }
}

/**
 * HTTP 400/404 `invalid_request_error` (or `idempotency_error` when a provider key was reused with
 * other parameters): the provider refused the request as such; sending it again cannot succeed.
 */
export class ProviderInvalidRequestError extends ProviderError {
  readonly outcome: ProviderOutcome = 'definitive';
  readonly httpStatus: number;
  /** Stripe's error type: `invalid_request_error` or `idempotency_error`. */
  readonly type: string;
  /** e.g. `resource_missing`, `amount_too_large`, `payment_intent_unexpected_state`. */
  readonly code: string | undefined;
  /** The offending request parameter, when the provider names one. */
  readonly param: string | undefined;
  readonly requestId: string | undefined;

  constructor(init: {
    message: string;
    httpStatus: number;
    type: string;
    code?: string | undefined;
    param?: string | undefined;
    requestId?: string | undefined;
  }) {
    super(init.message);
    this.httpStatus = init.httpStatus;
    this.type = init.type;
    this.code = init.code;
    this.param = init.param;
    this.requestId = init.requestId;
  }
}

/**
 * HTTP 401/403: the provider rejected our secret key before doing anything. A configuration
 * fault, not a result of the payment, so it must not be stored as the payment's outcome. The
 * message is fixed text: the provider's own message may quote (part of) the key.
 */
export class ProviderAuthenticationError extends ProviderError {
  readonly outcome: ProviderOutcome = 'no_side_effect';
  readonly httpStatus: number;

  constructor(httpStatus: number) {
    super(`provider rejected the API credentials (HTTP ${httpStatus})`);
    this.httpStatus = httpStatus;
  }
}

export const UNAVAILABLE_REASONS = [
  /** Nothing listens at the provider address (ECONNREFUSED). Never sent. */
  'connection_refused',
  /** The provider host name did not resolve. Never sent. */
  'dns_failure',
  /** The deadline passed before a connection existed. Never sent. */
  'connect_timeout',
  /** Any other failure before a connection existed (unreachable network, TLS handshake). */
  'connect_failed',
  /** The deadline passed after the request was written, before a complete answer arrived. */
  'response_timeout',
  /** The connection was reset or hung up after the request was written. */
  'connection_lost',
  /** HTTP 5xx. */
  'server_error',
  /** HTTP 429. */
  'rate_limited',
  /** HTTP 409: another request with the same provider key is still being processed. */
  'idempotency_in_progress',
  /** An answer we cannot interpret: not JSON, not the expected shape, or an unexpected status. */
  'bad_response',
] as const;
export type UnavailableReason = (typeof UNAVAILABLE_REASONS)[number];

/**
 * The provider did not give a usable answer. `requestSent` is the whole point:
 * - `false`: no connection to the provider ever existed, so it cannot have seen the request.
 * - `true`: the request was (or may have been) written to a connected socket; the provider may
 *   have processed it. Everything after the connection is established counts, including
 *   5xx answers, because a server can fail after committing the charge.
 */
export class ProviderUnavailableError extends ProviderError {
  readonly outcome: ProviderOutcome;
  readonly requestSent: boolean;
  readonly reason: UnavailableReason;
  /** Set when the provider answered with an HTTP status. */
  readonly httpStatus: number | undefined;

  constructor(init: { message: string; requestSent: boolean; reason: UnavailableReason; httpStatus?: number | undefined }, options?: { cause?: unknown }) {
    super(init.message, options);
    this.requestSent = init.requestSent;
    this.reason = init.reason;
    this.httpStatus = init.httpStatus;
    this.outcome = init.requestSent ? 'unknown' : 'no_side_effect';
  }
}

/**
 * True when a provider call may have taken effect without us learning the result, so the
 * idempotency key must stay in flight and the call be re-sent later with the same provider key.
 *
 * Anything that is not a ProviderError counts as unknown: ProviderClient rejects only with
 * ProviderErrors, so a foreign error is a bug somewhere, and a bug proves nothing about what the
 * provider received. Treating it as unknown costs a recovery round; the opposite could charge twice.
 */
export function isOutcomeUnknown(err: unknown): boolean {
  return !(err instanceof ProviderError) || err.outcome === 'unknown';
}
