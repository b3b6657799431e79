/**
 * The chaos run's side of the simulator's control endpoints (`/_sim/...`): fault
 * windows open and close here, and the ledger (the provider's truth) is read here.
 */

import type { PaymentIntent } from '../../src/provider/provider-types.js';
import type { SimulatorFault } from '../../src/simulator/fault-injector.js';

/** A control request is local and tiny; the ledger read carries a few MB at most. */
const CONTROL_TIMEOUT_MS = 30_000;

export class ProviderControl {
  constructor(
    private readonly url: string,
    private readonly secretKey: string,
  ) {}

  async addFault(fault: SimulatorFault): Promise<void> {
    await this.request('POST', '/_sim/faults', JSON.stringify(fault));
  }

  async clearFaults(): Promise<void> {
    await this.request('DELETE', '/_sim/faults');
  }

  /** Every PaymentIntent the provider created, declined ones included. */
  async paymentIntents(): Promise<PaymentIntent[]> {
    const body = (await this.request('GET', '/_sim/payment_intents')) as { data?: PaymentIntent[] };
    if (!Array.isArray(body.data)) throw new Error('the simulator answered /_sim/payment_intents without a data list');
    return body.data;
  }

  private async request(method: string, path: string, body?: string): Promise<unknown> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.secretKey}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`simulator ${method} ${path} answered ${response.status}`);
    return JSON.parse(text) as unknown;
  }
}
