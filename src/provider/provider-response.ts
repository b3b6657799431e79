import {
  CAPTURE_METHODS,
  PAYMENT_INTENT_STATUSES,
  type PaymentIntent,
  type PaymentIntentError,
  type PaymentIntentSearchResult,
  type ProviderRefund,
  REFUND_STATUSES,
  type RefundList,
} from './provider-types.js';

/**
 * Checks provider JSON against the shapes in provider-types. A body that does not check out is
 * not trusted as a result at all (the caller turns the failure into an "outcome unknown" error),
 * so only fields the service relies on are checked; extra fields are dropped.
 */

/** Stripe's error envelope, `{ error: { type, code, decline_code, message, param, ... } }`. */
export interface ProviderErrorBody {
  type: string;
  message: string;
  code: string | undefined;
  declineCode: string | undefined;
  param: string | undefined;
  /** The raw `error.payment_intent`, for card errors on confirm. */
  paymentIntent: unknown;
}

export class ProviderResponseShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderResponseShapeError';
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(o: Json, field: string): string {
  const v = o[field];
  if (typeof v !== 'string') throw new ProviderResponseShapeError(`${field}: expected a string`);
  return v;
}

function optStr(o: Json, field: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ProviderResponseShapeError(`${field}: expected a string`);
  return v;
}

function nullableStr(o: Json, field: string): string | null {
  return optStr(o, field) ?? null;
}

function int(o: Json, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new ProviderResponseShapeError(`${field}: expected an integer`);
  }
  return v;
}

function oneOf<T extends string>(o: Json, field: string, allowed: readonly T[]): T {
  const v = str(o, field);
  const found = allowed.find((a) => a === v);
  if (found === undefined) throw new ProviderResponseShapeError(`${field}: unexpected value ${JSON.stringify(v)}`);
  return found;
}

function metadata(o: Json): Record<string, string> {
  const v = o['metadata'];
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new ProviderResponseShapeError('metadata: expected an object');
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw new ProviderResponseShapeError(`metadata.${k}: expected a string`);
    out[k] = value;
  }
  return out;
}

function lastPaymentError(o: Json): PaymentIntentError | null {
  const v = o['last_payment_error'];
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new ProviderResponseShapeError('last_payment_error: expected an object');
  const type = optStr(v, 'type');
  const declineCode = optStr(v, 'decline_code');
  return {
    ...(type === undefined ? {} : { type }),
    code: optStr(v, 'code') ?? 'unknown',
    ...(declineCode === undefined ? {} : { decline_code: declineCode }),
    message: optStr(v, 'message') ?? '',
  };
}

export function parsePaymentIntent(value: unknown): PaymentIntent {
  if (!isObject(value)) throw new ProviderResponseShapeError('payment intent: expected an object');
  if (value['object'] !== undefined && value['object'] !== 'payment_intent') {
    throw new ProviderResponseShapeError('payment intent: unexpected object type');
  }
  return {
    id: str(value, 'id'),
    object: 'payment_intent',
    amount: int(value, 'amount'),
    amount_capturable: int(value, 'amount_capturable'),
    amount_received: int(value, 'amount_received'),
    currency: str(value, 'currency'),
    status: oneOf(value, 'status', PAYMENT_INTENT_STATUSES),
    capture_method: oneOf(value, 'capture_method', CAPTURE_METHODS),
    payment_method: nullableStr(value, 'payment_method'),
    customer: nullableStr(value, 'customer'),
    description: nullableStr(value, 'description'),
    metadata: metadata(value),
    last_payment_error: lastPaymentError(value),
    created: int(value, 'created'),
  };
}

export function parseProviderRefund(value: unknown): ProviderRefund {
  if (!isObject(value)) throw new ProviderResponseShapeError('refund: expected an object');
  if (value['object'] !== undefined && value['object'] !== 'refund') {
    throw new ProviderResponseShapeError('refund: unexpected object type');
  }
  return {
    id: str(value, 'id'),
    object: 'refund',
    amount: int(value, 'amount'),
    payment_intent: str(value, 'payment_intent'),
    status: oneOf(value, 'status', REFUND_STATUSES),
    currency: str(value, 'currency'),
    metadata: metadata(value),
    created: int(value, 'created'),
  };
}

function list<T>(value: unknown, object: string, parseItem: (item: unknown) => T): { data: T[]; has_more: boolean } {
  if (!isObject(value)) throw new ProviderResponseShapeError(`${object}: expected an object`);
  if (value['object'] !== object) throw new ProviderResponseShapeError(`${object}: unexpected object type`);
  const data = value['data'];
  if (!Array.isArray(data)) throw new ProviderResponseShapeError(`${object}.data: expected an array`);
  const hasMore = value['has_more'];
  if (typeof hasMore !== 'boolean') throw new ProviderResponseShapeError(`${object}.has_more: expected a boolean`);
  return { data: data.map(parseItem), has_more: hasMore };
}

export function parsePaymentIntentSearchResult(value: unknown): PaymentIntentSearchResult {
  const { data, has_more } = list(value, 'search_result', parsePaymentIntent);
  return { object: 'search_result', data, has_more, next_page: nullableStr(value as Json, 'next_page') };
}

export function parseRefundList(value: unknown): RefundList {
  const { data, has_more } = list(value, 'list', parseProviderRefund);
  return { object: 'list', data, has_more };
}

/** Returns undefined when the body is not Stripe's error envelope. */
export function parseProviderErrorBody(value: unknown): ProviderErrorBody | undefined {
  if (!isObject(value)) return undefined;
  const error = value['error'];
  if (!isObject(error) || typeof error['type'] !== 'string') return undefined;
  const text = (field: string): string | undefined => {
    const v = error[field];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    type: error['type'],
    message: text('message') ?? '',
    code: text('code'),
    declineCode: text('decline_code'),
    param: text('param'),
    paymentIntent: error['payment_intent'],
  };
}
