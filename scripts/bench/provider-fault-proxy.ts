import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Only these requests create a charge at the provider. */
const CREATE_PATH = '/v1/payment_intents';

export interface ProviderFaultProxy {
  /** Give this to the servers as the provider's URL. */
  url: string;
  /**
   * Decides, per logical payment (its metadata.order_id), whether the FIRST
   * create request the provider sees for it is charged and then left
   * unanswered (the connection is dropped). Later requests pass untouched.
   * Set per strategy; `undefined` disables the fault.
   */
  dropFirst: ((orderId: string) => boolean) | undefined;
  /** How many connections were dropped after a charge. */
  readonly dropped: number;
  /** The payments (order ids) whose first create request was charged and dropped. */
  readonly droppedOrders: ReadonlySet<string>;
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy in front of the provider simulator that drops the
 * connection after the provider charged, on the first attempt of a chosen set
 * of payments. The simulator's own `chargeThenDrop` fault picks requests with
 * Math.random and cannot tell a first attempt from a retry; here the choice is
 * a function of the payment, so every strategy meets the same faults on the
 * same payments.
 */
export async function startProviderFaultProxy(target: string): Promise<ProviderFaultProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const seen = new Set<string>();
  let dropped = 0;
  const droppedOrders = new Set<string>();
  const proxy: ProviderFaultProxy = {
    url: '',
    dropFirst: undefined,
    get dropped() {
      return dropped;
    },
    droppedOrders,
    close: async () => undefined,
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let drop = false;
      const decide = proxy.dropFirst;
      if (decide !== undefined && req.method === 'POST' && req.url === CREATE_PATH) {
        const orderId = new URLSearchParams(body.toString('utf8')).get('metadata[order_id]');
        if (orderId !== null && !seen.has(orderId)) {
          seen.add(orderId);
          drop = decide(orderId);
          if (drop) droppedOrders.add(orderId);
        }
      }
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
        (answer) => {
          if (drop) {
            // The provider has processed (and charged) by the time it answers; the client never hears it.
            answer.resume();
            answer.on('end', () => {
              dropped += 1;
              req.socket.destroy();
            });
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => req.socket.destroy());
      forward.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    agent.destroy();
  };
  return proxy;
}
