/**
 * Load generator of the abuse benchmark, run as its own process: keeps `concurrency` calls with
 * a new random API key each in flight against one server, over several connections, for
 * `durationMs`, then prints {"calls":...,"seconds":...,"codes":{...}} as one JSON line.
 *
 *   tsx scripts/bench/abuse-flood.ts --port P --duration-ms 5000 [--concurrency 128 --connections 8]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { PaymentServiceClient } from '../../src/gen/payments/v1/payments.js';

/** A call that takes longer is counted by its code (DEADLINE_EXCEEDED) instead of hanging the generator. */
const CALL_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'duration-ms': { type: 'string', default: '5000' },
      concurrency: { type: 'string', default: '128' },
      connections: { type: 'string', default: '8' },
    },
  });
  const connections = Number(values.connections);
  // Distinct channel options make grpc-js open a connection per client instead of sharing one.
  const clients = Array.from(
    { length: connections },
    (_, i) => new PaymentServiceClient(`127.0.0.1:${values.port}`, grpc.credentials.createInsecure(), { 'bench.channel': i }),
  );
  const end = performance.now() + Number(values['duration-ms']);
  const codes: Record<string, number> = {};
  let calls = 0;
  const start = performance.now();
  const worker = async (w: number): Promise<void> => {
    const client = clients[w % connections]!;
    while (performance.now() < end) {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer sk_live_${randomBytes(24).toString('base64url')}`);
      const code = await new Promise<number>((resolve) => {
        client.getCharge({ chargeId: 'ch_flood' }, md, { deadline: Date.now() + CALL_DEADLINE_MS }, (err) => resolve(err ? err.code : 0));
      });
      codes[code] = (codes[code] ?? 0) + 1;
      calls++;
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, (_, w) => worker(w)));
  const seconds = (performance.now() - start) / 1000;
  for (const c of clients) c.close();
  process.stdout.write(`${JSON.stringify({ calls, seconds, codes })}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
