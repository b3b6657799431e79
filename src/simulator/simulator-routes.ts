import type { LedgerResult, SimulatorLedger } from './simulator-ledger.js';
import { stripeError } from './simulator-response.js';
import type { SimulatorKeyStats } from './simulator-stats.js';

/**
 * Routes one Stripe API request (`/v1/...`) to the ledger. `keyStats`, the counters of the
 * request's idempotency key when it carries one, counts the PaymentIntents it creates.
 */
export function routeProviderRequest(
  ledger: SimulatorLedger,
  method: string,
  path: string,
  params: URLSearchParams,
  key: string | undefined,
  keyStats: SimulatorKeyStats | undefined,
): LedgerResult {
  const parts = path.split('/'); // ['', 'v1', resource, id?, action?]
  const resource = parts[2];
  const id = parts[3] === undefined ? undefined : decodeURIComponent(parts[3]);
  const action = parts[4];
  if (parts[1] === 'v1' && parts.length <= 5) {
    if (resource === 'payment_intents') {
      if (method === 'POST' && id === undefined) {
        const result = ledger.createPaymentIntent(params, key);
        if (keyStats !== undefined && (result.status === 200 || result.status === 402)) keyStats.paymentIntentsCreated += 1;
        return result;
      }
      if (method === 'GET' && id === 'search' && action === undefined) return ledger.searchPaymentIntents(params);
      if (method === 'GET' && id !== undefined && action === undefined) return ledger.retrievePaymentIntent(id);
      if (method === 'POST' && id !== undefined && action === 'capture') return ledger.capturePaymentIntent(id, params);
      if (method === 'POST' && id !== undefined && action === 'cancel') return ledger.cancelPaymentIntent(id, params);
    }
    if (resource === 'refunds' && method === 'POST' && id === undefined) return ledger.createRefund(params);
    if (resource === 'refunds' && method === 'GET' && id === undefined) return ledger.listRefunds(params);
  }
  return {
    ...stripeError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` }),
    replayable: false,
  };
}
