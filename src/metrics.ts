import http from 'node:http';
import { status as Code, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { IdempotencyEvent, IdempotencyObserver } from './idempotency/idempotency-events.js';

const CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Code)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v, k]),
);

/** Prometheus metrics of one server process. */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly events = new Counter({
    name: 'payments_idempotency_events_total',
    help: 'Idempotency outcomes: claimed, replayed, replayed_from_memory, mismatched, in_use, waited, released, kept_for_recovery, taken_over, recovered, reaped, store_unavailable, fenced, needs_attention, attention_answered',
    labelNames: ['event'],
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'payments_grpc_server_handling_seconds',
    help: 'gRPC handling latency by method and status code',
    labelNames: ['method', 'code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  readonly observe: IdempotencyObserver = (event: IdempotencyEvent, count = 1) => {
    this.events.inc({ event }, count);
  };

  /** Times every call from its start to the status it ends with (CANCELLED when the client leaves). */
  interceptor(): ServerInterceptor {
    return (methodDescriptor, call) => {
      const end = this.latency.startTimer({ method: methodDescriptor.path });
      let done = false;
      const finish = (code: number): void => {
        if (done) return;
        done = true;
        end({ code: CODE_NAMES[code] ?? String(code) });
      };
      return new ServerInterceptingCall(call, {
        start: (next) => next({ onCancel: () => finish(Code.CANCELLED) }),
        sendStatus: (status, next) => {
          finish(status.code);
          next(status);
        },
      });
    };
  }

  /** Serves `/metrics` in the Prometheus text format. */
  listen(hostPort: string): Promise<http.Server> {
    const idx = hostPort.lastIndexOf(':');
    const host = hostPort.slice(0, idx).replace(/^\[|\]$/g, '');
    const port = Number(hostPort.slice(idx + 1));
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('not found; metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
