/**
 * One gRPC channel per server instance, and one CreateCharge call with what the
 * checker needs from its answer.
 */
import * as grpc from '@grpc/grpc-js';
import { type ChargeStatus, type CreateChargeRequest, PaymentServiceClient } from '../../src/gen/payments/v1/payments.js';

/**
 * grpc-js backs off reconnects up to 120 s by default; a killed instance is back
 * within seconds, and its clients should find it then.
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 1_000,
};

/** What one call answered. `charge` is set for OK only. */
export interface CallAnswer {
  code: grpc.status;
  charge?: { id: string; status: ChargeStatus; amount: string; providerReference: string };
  /** The answer carried `idempotent-replayed: true` (a stored outcome, not a new run). */
  replayed: boolean;
}

export class PaymentClients {
  private readonly clients: PaymentServiceClient[];
  private closed = false;

  constructor(
    ports: readonly number[],
    private readonly apiKey: string,
  ) {
    this.clients = ports.map((port) => new PaymentServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS));
  }

  get size(): number {
    return this.clients.length;
  }

  createCharge(instance: number, request: CreateChargeRequest, idempotencyKey: string, deadlineMs: number): Promise<CallAnswer> {
    const client = this.clients[instance];
    if (client === undefined) throw new Error(`no client for instance ${instance}`);
    // After close() (the run is stopping) a retry loop still running hears "unavailable" instead of a throw.
    if (this.closed) return Promise.resolve({ code: grpc.status.UNAVAILABLE, replayed: false });
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.apiKey}`);
    md.set('idempotency-key', idempotencyKey);
    return new Promise((resolve) => {
      let replayed = false;
      const call = client.createCharge(request, md, { deadline: Date.now() + deadlineMs }, (err, charge) => {
        if (err) resolve({ code: err.code, replayed });
        else
          resolve({
            code: grpc.status.OK,
            charge: { id: charge.id, status: charge.status, amount: charge.amount, providerReference: charge.providerReference },
            replayed,
          });
      });
      call.on('metadata', (headers: grpc.Metadata) => {
        replayed = headers.get('idempotent-replayed').includes('true');
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients) client.close();
  }
}
