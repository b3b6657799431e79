/**
 * The Stripe-compatible subset of provider objects this service uses (DESIGN §6). Field names
 * follow Stripe's wire format (snake_case) so the objects can be logged or stored as received.
 */

export const PAYMENT_INTENT_STATUSES = [
  'succeeded',
  'requires_capture',
  'canceled',
  'requires_payment_method',
  'processing',
  /** The customer must act (e.g. 3-D Secure); confirm answers 200 in this state, not a decline. */
  'requires_action',
] as const;
export type PaymentIntentStatus = (typeof PAYMENT_INTENT_STATUSES)[number];

export const CAPTURE_METHODS = ['automatic', 'manual'] as const;
export type CaptureMethod = (typeof CAPTURE_METHODS)[number];

/**
 * Stripe's refund states. `pending` and `requires_action` are refunds the provider accepted but
 * has not finished; `failed` and `canceled` returned no money.
 */
export const REFUND_STATUSES = ['succeeded', 'failed', 'pending', 'requires_action', 'canceled'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

/** Why the last confirmation attempt failed (Stripe's `last_payment_error`). */
export interface PaymentIntentError {
  type?: string;
  code: string;
  decline_code?: string;
  message: string;
}

export interface PaymentIntent {
  id: string;
  object: 'payment_intent';
  /** Minor units (cents), as every amount here. */
  amount: number;
  amount_capturable: number;
  amount_received: number;
  /** ISO 4217, lower case as Stripe returns it. */
  currency: string;
  status: PaymentIntentStatus;
  capture_method: CaptureMethod;
  payment_method: string | null;
  customer: string | null;
  description: string | null;
  metadata: Record<string, string>;
  last_payment_error?: PaymentIntentError | null;
  /** Unix seconds. */
  created: number;
}

export interface ProviderRefund {
  id: string;
  object: 'refund';
  amount: number;
  payment_intent: string;
  status: RefundStatus;
  currency: string;
  metadata: Record<string, string>;
  /** Unix seconds. */
  created: number;
}

/** `GET /v1/payment_intents/search`: Stripe's search result envelope. */
export interface PaymentIntentSearchResult {
  object: 'search_result';
  data: PaymentIntent[];
  has_more: boolean;
  next_page: string | null;
}

/** `GET /v1/refunds`: Stripe's list envelope, oldest last. */
export interface RefundList {
  object: 'list';
  data: ProviderRefund[];
  has_more: boolean;
}

export interface CreatePaymentIntentParams {
  amount: number;
  currency: string;
  paymentMethod: string;
  captureMethod: CaptureMethod;
  customer?: string;
  description?: string;
  metadata?: Record<string, string>;
}

export interface CreateRefundParams {
  paymentIntent: string;
  /** Omitted: refund everything not yet refunded. */
  amount?: number;
  metadata?: Record<string, string>;
}
