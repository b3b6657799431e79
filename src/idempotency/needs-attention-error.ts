/**
 * Thrown (by the idempotency layer or a handler) when an attempt that may
 * already have caused an external side effect can neither finish nor be
 * retried safely: its outcome cannot be stored (a permanent storage error),
 * or it is unknown and older than the downstream system's idempotency
 * window, and a lookup could not decide it. The row is parked in
 * `needs_attention` for an operator: never re-sent automatically.
 *
 * `reason` is a short snake_case code for operators and metrics; it must
 * never contain customer data, SQL text or keys.
 */
export class NeedsAttentionError extends Error {
  override name = 'NeedsAttentionError';

  constructor(
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
