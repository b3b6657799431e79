/**
 * One answer of the provider simulator, already serialized so an idempotent replay returns the
 * very same bytes.
 */
export interface SimulatorResponse {
  status: number;
  body: string;
}

export interface StripeErrorFields {
  type: 'invalid_request_error' | 'idempotency_error' | 'card_error' | 'api_error';
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  payment_intent?: unknown;
}

export function jsonResponse(status: number, body: unknown): SimulatorResponse {
  return { status, body: JSON.stringify(body) };
}

/** Stripe's error envelope: `{ "error": { "type", "message", "code", ... } }`. */
export function stripeError(status: number, error: StripeErrorFields): SimulatorResponse {
  return jsonResponse(status, { error });
}
