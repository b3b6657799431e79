import { type SimulatorResponse, stripeError } from './simulator-response.js';

/** What a request carrying an Idempotency-Key gets from the store. */
export type IdempotencyClaim =
  | { kind: 'claimed' }
  | { kind: 'replay'; response: SimulatorResponse }
  | { kind: 'in_progress' }
  | { kind: 'other_endpoint'; firstEndpoint: string }
  | { kind: 'other_params' };

type Entry = { state: 'in_progress'; endpoint: string; params: string } | { state: 'completed'; endpoint: string; params: string; response: SimulatorResponse };

/**
 * Provider-side idempotency as Stripe does it: the first request with a key runs and its answer
 * is stored; a later request with the key and the same endpoint and parameters gets that answer
 * again; anything else with the key is refused.
 *
 * Every method is synchronous. That is what makes `claim` atomic: the check for an entry and the
 * insert of the in-progress entry happen in one turn of the event loop, so two concurrent
 * requests with one key can never both be `claimed`.
 */
export class SimulatorIdempotencyStore {
  private readonly entries = new Map<string, Entry>();

  /** `params` must be canonical (see canonicalParams) so equal requests compare equal. */
  claim(key: string, endpoint: string, params: string): IdempotencyClaim {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.entries.set(key, { state: 'in_progress', endpoint, params });
      return { kind: 'claimed' };
    }
    if (entry.endpoint !== endpoint) return { kind: 'other_endpoint', firstEndpoint: entry.endpoint };
    if (entry.params !== params) return { kind: 'other_params' };
    if (entry.state === 'in_progress') return { kind: 'in_progress' };
    return { kind: 'replay', response: entry.response };
  }

  /** Stores the answer of a claimed key. */
  complete(key: string, response: SimulatorResponse): void {
    const entry = this.entries.get(key);
    if (entry?.state !== 'in_progress') return; // reset() ran meanwhile: nothing to complete
    this.entries.set(key, { state: 'completed', endpoint: entry.endpoint, params: entry.params, response });
  }

  /** Forgets a claimed key whose request stored no result, so the key can be used again. */
  release(key: string): void {
    if (this.entries.get(key)?.state === 'in_progress') this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Parameters in a canonical order, so that field order never changes a comparison. */
export function canonicalParams(params: URLSearchParams): string {
  const sorted = new URLSearchParams(params);
  sorted.sort();
  return sorted.toString();
}

/**
 * Stripe's answer to a request whose key it refuses: 409 while the first request with the key is
 * still running, 400 `idempotency_error` when the key was first used for another endpoint or
 * other parameters.
 */
export function idempotencyRefusal(
  claim: Extract<IdempotencyClaim, { kind: 'in_progress' | 'other_endpoint' | 'other_params' }>,
  key: string,
  endpoint: string,
): SimulatorResponse {
  if (claim.kind === 'in_progress') {
    return stripeError(409, {
      type: 'idempotency_error',
      message: `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${key}. Please try again later.`,
    });
  }
  return stripeError(400, {
    type: 'idempotency_error',
    message:
      claim.kind === 'other_endpoint'
        ? `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${claim.firstEndpoint}' vs '${endpoint}'). Try using a key other than '${key}' if you meant to execute a different request.`
        : `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
  });
}
