import { type Client, status as Code, Metadata } from '@grpc/grpc-js';
import { type CallResult, EXPIRES_AT_HEADER, REPLAYED_HEADER } from './call-result.js';
import type { ClientEvent, ClientLogger } from './client-event.js';
import { type ErrorContext, PaymentsError } from './payments-error.js';
import { isRetryable } from './retry-decision.js';
import { backoffMs, type RetryPolicy } from './retry-policy.js';
import { type UnaryMethod, unaryAttempt } from './unary-attempt.js';

export interface RetryingCall<Req, Res> {
  client: Client;
  method: UnaryMethod<Req, Res>;
  /** Encoded once per attempt from the same object, so every attempt sends the same request. */
  request: Req;
  apiKey: string;
  /** Sent on every attempt; undefined for reads. */
  idempotencyKey: string | undefined;
  policy: RetryPolicy;
  deadlineMs: number;
  logger: ClientLogger | undefined;
  signal: AbortSignal | undefined;
  /** Injectable for tests of the backoff; Math.random otherwise. */
  random?: () => number;
}

/**
 * Runs one logical call: attempts with the same key and request until one gives a final answer,
 * the attempts are used up, or the call's deadline leaves no room for another attempt.
 */
export async function callWithRetries<Req, Res>(c: RetryingCall<Req, Res>): Promise<CallResult<Res>> {
  const callDeadline = Date.now() + c.deadlineMs;
  const context = (attempts: number): ErrorContext => ({ method: c.method.path, idempotencyKey: c.idempotencyKey, attempts });
  for (let attempt = 1; ; attempt++) {
    if (c.signal?.aborted) throw cancelled(context(attempt - 1), c.signal.reason);
    const attemptDeadline = Math.min(callDeadline, Date.now() + c.policy.attemptTimeoutMs);
    const outcome = await unaryAttempt(c.client, c.method, c.request, metadataFor(c), new Date(attemptDeadline), c.signal);
    if (outcome.ok) {
      const expiresAt = outcome.headers.get(EXPIRES_AT_HEADER)[0];
      return {
        response: outcome.response,
        replayed: outcome.headers.get(REPLAYED_HEADER)[0] === 'true',
        idempotencyKey: c.idempotencyKey,
        idempotencyExpiresAt: typeof expiresAt === 'string' ? new Date(expiresAt) : undefined,
        attempts: attempt,
      };
    }
    const error = PaymentsError.from(outcome.error, context(attempt), outcome.headers);
    const gaveUp = (why: Extract<ClientEvent, { kind: 'gave-up' }>['why']): PaymentsError => {
      c.logger?.({ kind: 'gave-up', method: c.method.path, attempts: attempt, codeName: error.codeName, reason: error.reason, why });
      return error;
    };
    if (c.signal?.aborted) throw gaveUp('aborted');
    // The call's own deadline ending is final; only an attempt cut short by attemptTimeoutMs is retried.
    const attemptTimedOut = error.code === Code.DEADLINE_EXCEEDED && attemptDeadline < callDeadline;
    if (!isRetryable(error, attemptTimedOut)) throw gaveUp('not-retryable');
    if (attempt >= c.policy.maxAttempts) throw gaveUp('attempts-exhausted');
    const delayMs = backoffMs(c.policy, attempt, error.retryDelayMs, c.random);
    // Coming back after the deadline is pointless: the caller gets the last real answer instead.
    if (Date.now() + delayMs >= callDeadline) throw gaveUp('deadline-exhausted');
    c.logger?.({ kind: 'retry', method: c.method.path, attempt, codeName: error.codeName, reason: error.reason, delayMs });
    await sleep(delayMs, c.signal);
  }
}

function metadataFor(c: { apiKey: string; idempotencyKey: string | undefined }): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${c.apiKey}`);
  if (c.idempotencyKey !== undefined) md.set('idempotency-key', c.idempotencyKey);
  return md;
}

function cancelled(context: ErrorContext, reason: unknown): PaymentsError {
  return new PaymentsError(Code.CANCELLED, 'the call was aborted by the caller', context, { cause: reason });
}

/** Resolves after `ms`, or early when `signal` aborts (the loop then stops). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
