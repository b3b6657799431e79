/**
 * Service processes that a test SIGKILLs in the middle of a charge: the provider simulator they
 * share, their environment, and the crash itself (used by process-crash.test.ts and
 * lease-holder.test.ts).
 */
import { expect } from 'chai';
import { type CreateChargeRequest, PaymentServiceClient } from '../../src/gen/payments/v1/payments.js';
import { type ProviderSimulator, startProviderSimulator } from '../../src/simulator/simulator.js';
import { sharedDatabaseUrl, sharedPool } from './database.js';
import { callUnary, metadata, paymentClient } from './grpc-client.js';
import { type ServerProcess, startServerProcess } from './server-process.js';

/** A card charge of `amount` minor units tagged with `order`, so a test finds its PaymentIntents at the provider. */
export function chargeRequest(order: string, amount: string): CreateChargeRequest {
  return { amount, currency: 'usd', paymentMethod: 'pm_card_visa', customerId: '', description: '', metadata: { order_id: order }, captureMethod: 0 };
}

export class CrashHarness {
  private simulator: ProviderSimulator | undefined;
  private readonly processes: ServerProcess[] = [];
  private env: Record<string, string> = {};

  /** `settings`: the environment every process gets besides the database and the provider (lease, completer...). */
  constructor(private readonly settings: Record<string, string>) {}

  get sim(): ProviderSimulator {
    if (!this.simulator) throw new Error('CrashHarness.setUp() has not run');
    return this.simulator;
  }

  /** For mocha's before(). */
  async setUp(): Promise<void> {
    this.simulator = await startProviderSimulator();
    await sharedPool();
    this.env = {
      MYSQL_URL: sharedDatabaseUrl(),
      PAYMENTS_PROVIDER_URL: this.simulator.url,
      PAYMENTS_PROVIDER_SECRET_KEY: this.simulator.secretKey,
      ...this.settings,
    };
  }

  /** For mocha's after(): kills every process started and closes the simulator. */
  async tearDown(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop('SIGKILL')));
    await this.simulator?.close();
  }

  /** Starts a service process with the shared environment and `extra` on top. */
  async start(extra: Record<string, string> = {}): Promise<ServerProcess> {
    const p = await startServerProcess({ ...this.env, ...extra });
    this.processes.push(p);
    return p;
  }

  /**
   * Sends `request` to `victim`, lets the provider receive it, and SIGKILLs the victim before it
   * records anything; the provider then finishes the charge, and its answer goes to a dead process.
   */
  async chargeAndCrash(victim: ServerProcess, request: CreateChargeRequest, apiKey: string, key: string): Promise<void> {
    const client = paymentClient(victim.port);
    this.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
    const pending = callUnary(
      client,
      PaymentServiceClient.prototype.createCharge,
      request,
      metadata({ authorization: `Bearer ${apiKey}`, 'idempotency-key': key }),
    );
    await this.sim.whenHeld(1);
    await victim.stop('SIGKILL');
    this.sim.faults.clear();
    this.sim.releaseHeld();
    expect((await pending).error).to.not.equal(undefined);
    client.close();
  }
}
