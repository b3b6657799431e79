import { randomBytes } from 'node:crypto';
import type { PaymentIntent, ProviderRefund } from '../provider/provider-types.js';
import { assertKnownParams, listLimit, metadataOf, optionalInteger, parseMetadataQuery, required, ValidationFailure } from './simulator-params.js';
import { jsonResponse, type SimulatorResponse, stripeError } from './simulator-response.js';
import { TEST_PAYMENT_METHODS } from './test-payment-methods.js';

/**
 * A ledger answer. `replayable` is false for parameter validation failures: like Stripe, the
 * simulator stores an idempotent result only once an endpoint started executing, so a request
 * that failed validation can be corrected and re-sent under the same key.
 */
export interface LedgerResult extends SimulatorResponse {
  replayable: boolean;
}

function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * `resource_missing`: 404 for an id in the URL path; 400 for an id passed as a parameter, which
 * makes the request itself invalid (as Stripe answers an unknown `payment_method`).
 */
function notFound(kind: string, id: string, param: string, status: 400 | 404): LedgerResult {
  return {
    ...stripeError(status, { type: 'invalid_request_error', code: 'resource_missing', param, message: `No such ${kind}: '${id}'` }),
    replayable: true,
  };
}

function invalid(code: string, message: string, param?: string): LedgerResult {
  return {
    ...stripeError(400, { type: 'invalid_request_error', code, message, ...(param === undefined ? {} : { param }) }),
    replayable: true,
  };
}

function ok(body: unknown): LedgerResult {
  return { ...jsonResponse(200, body), replayable: true };
}

/**
 * The simulator's in-memory provider state and its Stripe-like rules for PaymentIntents and
 * refunds. Synchronous on purpose: a request's whole effect happens in one turn of the event loop,
 * so concurrent requests cannot interleave inside it.
 */
export class SimulatorLedger {
  private readonly intents = new Map<string, PaymentIntent>();
  private readonly refundList = new Map<string, ProviderRefund>();
  private readonly refundedByIntent = new Map<string, number>();
  private readonly createsByKey = new Map<string, number>();

  /** `POST /v1/payment_intents` (confirm=true only). */
  createPaymentIntent(params: URLSearchParams, idempotencyKey: string | undefined): LedgerResult {
    return validated(() => {
      assertKnownParams(params, ['amount', 'currency', 'payment_method', 'confirm', 'capture_method', 'customer', 'description'], true);
      const amount = optionalInteger(params, 'amount');
      if (amount === undefined) throw new ValidationFailure('amount', 'parameter_missing', 'Missing required param: amount.');
      const currency = required(params, 'currency');
      if (!/^[A-Za-z]{3}$/.test(currency)) throw new ValidationFailure('currency', 'parameter_invalid_string', `Invalid currency: ${currency}`);
      if (params.get('confirm') !== 'true') {
        throw new ValidationFailure('confirm', 'parameter_invalid_boolean', 'This simulator only creates PaymentIntents with confirm=true.');
      }
      const paymentMethod = required(params, 'payment_method');
      const captureMethod = params.get('capture_method') ?? 'automatic';
      if (captureMethod !== 'automatic' && captureMethod !== 'manual') {
        throw new ValidationFailure('capture_method', 'parameter_invalid_string', `Invalid capture_method: ${captureMethod}`);
      }
      const metadata = metadataOf(params);

      const behaviour = TEST_PAYMENT_METHODS.get(paymentMethod);
      if (behaviour === undefined) return notFound('PaymentMethod', paymentMethod, 'payment_method', 400);

      const declined = behaviour.result === 'decline';
      // Only a confirmation that went through moves or reserves money.
      const settled = behaviour.result === 'succeed';
      const intent: PaymentIntent = {
        id: newId('pi'),
        object: 'payment_intent',
        amount,
        amount_capturable: settled && captureMethod === 'manual' ? amount : 0,
        amount_received: settled && captureMethod === 'automatic' ? amount : 0,
        currency: currency.toLowerCase(),
        status:
          behaviour.result === 'succeed'
            ? captureMethod === 'manual'
              ? 'requires_capture'
              : 'succeeded'
            : behaviour.result === 'decline'
              ? 'requires_payment_method'
              : behaviour.result,
        capture_method: captureMethod,
        // Stripe detaches the PaymentMethod from a PaymentIntent whose confirmation failed.
        payment_method: declined ? null : paymentMethod,
        customer: params.get('customer'),
        description: params.get('description'),
        metadata,
        last_payment_error:
          behaviour.result === 'decline'
            ? {
                type: 'card_error',
                code: behaviour.decline.code,
                decline_code: behaviour.decline.declineCode,
                message: behaviour.decline.message,
              }
            : null,
        created: nowSeconds(),
      };
      this.intents.set(intent.id, intent);
      if (idempotencyKey !== undefined) this.createsByKey.set(idempotencyKey, (this.createsByKey.get(idempotencyKey) ?? 0) + 1);

      if (behaviour.result !== 'decline') return ok(intent);
      return {
        ...stripeError(402, {
          type: 'card_error',
          code: behaviour.decline.code,
          decline_code: behaviour.decline.declineCode,
          message: behaviour.decline.message,
          param: 'payment_method',
          payment_intent: intent,
        }),
        replayable: true,
      };
    });
  }

  /** `POST /v1/payment_intents/{id}/capture`. */
  capturePaymentIntent(id: string, params: URLSearchParams): LedgerResult {
    return validated(() => {
      assertKnownParams(params, ['amount_to_capture'], false);
      const amountToCapture = optionalInteger(params, 'amount_to_capture');
      const intent = this.intents.get(id);
      if (intent === undefined) return notFound('payment_intent', id, 'intent', 404);
      if (intent.status !== 'requires_capture') {
        return invalid(
          'payment_intent_unexpected_state',
          `This PaymentIntent could not be captured because it has a status of ${intent.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
        );
      }
      const amount = amountToCapture ?? intent.amount_capturable;
      if (amount > intent.amount_capturable) {
        return invalid(
          'amount_too_large',
          `The amount to capture (${amount}) is greater than the amount capturable (${intent.amount_capturable}).`,
          'amount_to_capture',
        );
      }
      intent.amount_received = amount;
      intent.amount_capturable = 0;
      intent.status = 'succeeded';
      return ok(intent);
    });
  }

  /** `POST /v1/payment_intents/{id}/cancel`. */
  cancelPaymentIntent(id: string, params: URLSearchParams): LedgerResult {
    return validated(() => {
      assertKnownParams(params, ['cancellation_reason'], false);
      const intent = this.intents.get(id);
      if (intent === undefined) return notFound('payment_intent', id, 'intent', 404);
      // As Stripe: money that moved cannot be cancelled (refund it instead).
      if (intent.status !== 'requires_capture' && intent.status !== 'requires_payment_method') {
        return invalid(
          'payment_intent_unexpected_state',
          `You cannot cancel this PaymentIntent because it has a status of ${intent.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture.`,
        );
      }
      intent.amount_capturable = 0;
      intent.status = 'canceled';
      return ok(intent);
    });
  }

  /** `POST /v1/refunds`. */
  createRefund(params: URLSearchParams): LedgerResult {
    return validated(() => {
      assertKnownParams(params, ['payment_intent', 'amount', 'reason'], true);
      const intentId = required(params, 'payment_intent');
      const requested = optionalInteger(params, 'amount');
      const metadata = metadataOf(params);
      const intent = this.intents.get(intentId);
      if (intent === undefined) return notFound('payment_intent', intentId, 'payment_intent', 400);
      if (intent.status !== 'succeeded') {
        return invalid('payment_intent_unexpected_state', `This PaymentIntent (${intent.id}) does not have a successful charge to refund.`, 'payment_intent');
      }
      const refunded = this.refundedByIntent.get(intent.id) ?? 0;
      const remaining = intent.amount_received - refunded;
      if (remaining <= 0) {
        return invalid('charge_already_refunded', `PaymentIntent ${intent.id} has already been refunded.`);
      }
      const amount = requested ?? remaining;
      if (amount > remaining) {
        return invalid('amount_too_large', `Refund amount (${amount}) is greater than unrefunded amount on the PaymentIntent (${remaining}).`, 'amount');
      }
      const behaviour = intent.payment_method === null ? undefined : TEST_PAYMENT_METHODS.get(intent.payment_method);
      const status = behaviour?.result === 'succeed' ? behaviour.refund : 'succeeded';
      const refund: ProviderRefund = {
        id: newId('re'),
        object: 'refund',
        amount,
        payment_intent: intent.id,
        status,
        currency: intent.currency,
        metadata,
        created: nowSeconds(),
      };
      this.refundList.set(refund.id, refund);
      // As Stripe: a pending refund already holds its amount; a failed one returned nothing.
      if (status !== 'failed') this.refundedByIntent.set(intent.id, refunded + amount);
      return ok(refund);
    });
  }

  /**
   * `GET /v1/refunds?payment_intent=...`: newest first, `limit` (1 to 100, default 10) per page,
   * `starting_after` a refund id of the previous page, as Stripe lists.
   */
  listRefunds(params: URLSearchParams): LedgerResult {
    return validated(() => {
      assertKnownParams(params, ['payment_intent', 'limit', 'starting_after'], false);
      const limit = listLimit(params);
      const intentId = params.get('payment_intent');
      const all = [...this.refundList.values()].filter((r) => intentId === null || r.payment_intent === intentId).reverse();
      const after = params.get('starting_after');
      const start = after === null ? 0 : all.findIndex((r) => r.id === after) + 1;
      if (after !== null && start === 0) return notFound('refund', after, 'starting_after', 400);
      const page = all.slice(start, start + limit);
      return ok({ object: 'list', url: '/v1/refunds', has_more: start + limit < all.length, data: page });
    });
  }

  /**
   * `GET /v1/payment_intents/search?query=...`: the subset of Stripe's query language this
   * service uses, exact metadata clauses (`metadata['key']:'value'`) joined by ` AND `. Anything
   * else is refused as Stripe refuses a query it cannot parse. One page (up to `limit`).
   */
  searchPaymentIntents(params: URLSearchParams): LedgerResult {
    return validated(() => {
      assertKnownParams(params, ['query', 'limit', 'page'], false);
      const limit = listLimit(params);
      const clauses = parseMetadataQuery(required(params, 'query'));
      const found = [...this.intents.values()].filter((pi) => clauses.every(([k, v]) => pi.metadata[k] === v)).reverse();
      return ok({
        object: 'search_result',
        url: '/v1/payment_intents/search',
        has_more: found.length > limit,
        next_page: null,
        data: found.slice(0, limit),
      });
    });
  }

  /** `GET /v1/payment_intents/{id}`. */
  retrievePaymentIntent(id: string): LedgerResult {
    const intent = this.intents.get(id);
    return intent === undefined ? notFound('payment_intent', id, 'intent', 404) : ok(intent);
  }

  /** Copies, in creation order. */
  paymentIntents(): PaymentIntent[] {
    return [...this.intents.values()].map((pi) => structuredClone(pi));
  }

  /** Copies, in creation order. */
  refunds(): ProviderRefund[] {
    return [...this.refundList.values()].map((r) => structuredClone(r));
  }

  get paymentIntentCount(): number {
    return this.intents.size;
  }

  get refundCount(): number {
    return this.refundList.size;
  }

  /** How many PaymentIntents requests carrying this idempotency key created (0 or 1 by design). */
  paymentIntentsCreatedWithKey(idempotencyKey: string): number {
    return this.createsByKey.get(idempotencyKey) ?? 0;
  }

  /** PaymentIntent counts per value of one metadata key; intents without it are left out. */
  countByMetadata(metadataKey: string): Record<string, number> {
    const counts = new Map<string, number>();
    for (const intent of this.intents.values()) {
      const value = intent.metadata[metadataKey];
      if (value !== undefined) counts.set(value, (counts.get(value) ?? 0) + 1);
    }
    return Object.fromEntries(counts);
  }

  reset(): void {
    this.intents.clear();
    this.refundList.clear();
    this.refundedByIntent.clear();
    this.createsByKey.clear();
  }
}

/** Runs one endpoint; a parameter it refuses (ValidationFailure) becomes a 400 that is not stored under the key. */
function validated(run: () => LedgerResult): LedgerResult {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof ValidationFailure)) throw err;
    return {
      ...stripeError(400, { type: 'invalid_request_error', code: err.code, param: err.param, message: err.message }),
      replayable: false,
    };
  }
}
