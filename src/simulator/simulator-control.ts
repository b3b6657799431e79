import type { PaymentIntent } from '../provider/provider-types.js';
import { type FaultInjector, parseSimulatorFault } from './fault-injector.js';
import { jsonResponse, type SimulatorResponse, stripeError } from './simulator-response.js';
import type { SimulatorStats } from './simulator-stats.js';

/** What the control endpoints act on: the simulator's own inspection and fault methods. */
export interface SimulatorControls {
  readonly faults: FaultInjector;
  stats(opts?: { groupBy?: string }): SimulatorStats;
  paymentIntents(): PaymentIntent[];
  releaseHeld(): number;
  forgetIdempotencyKeys(): void;
  reset(): void;
}

/**
 * The simulator's control endpoints under `/_sim/` (stats, faults, held requests, reset), which
 * tests, benchmarks and the chaos run call over HTTP. They are not part of Stripe's API.
 */
export function answerControlRequest(sim: SimulatorControls, method: string, path: string, query: URLSearchParams, body: Buffer): SimulatorResponse {
  const route = `${method} ${path}`;
  switch (route) {
    case 'GET /_sim/stats': {
      const groupBy = query.get('group_by');
      return jsonResponse(200, sim.stats(groupBy === null ? {} : { groupBy }));
    }
    case 'GET /_sim/faults':
      return jsonResponse(200, { faults: sim.faults.list() });
    case 'POST /_sim/faults': {
      try {
        sim.faults.add(parseSimulatorFault(JSON.parse(body.toString('utf8'))));
      } catch (err) {
        const message = err instanceof Error ? err.message : 'invalid fault';
        return stripeError(400, { type: 'invalid_request_error', message });
      }
      return jsonResponse(201, { faults: sim.faults.list() });
    }
    case 'DELETE /_sim/faults':
      sim.faults.clear();
      return jsonResponse(200, { faults: [] });
    case 'POST /_sim/release':
      return jsonResponse(200, { released: sim.releaseHeld() });
    case 'POST /_sim/forget_idempotency_keys':
      sim.forgetIdempotencyKeys();
      return jsonResponse(200, { forgotten: true });
    case 'POST /_sim/reset':
      sim.reset();
      return jsonResponse(200, { reset: true });
    case 'GET /_sim/payment_intents':
      return jsonResponse(200, { data: sim.paymentIntents() });
    default:
      return stripeError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${route}).` });
  }
}
