/**
 * Runs the provider simulator as its own process, for benchmarks and multi-process tests:
 *
 *   tsx src/simulator/simulator-main.ts [--port 0] [--host 127.0.0.1] [--secret-key sk_test_...]
 *
 * Prints one JSON line, `{"url":"http://127.0.0.1:PORT","secret_key":"sk_test_..."}`, once it
 * listens, and exits cleanly on SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import { startProviderSimulator } from './simulator.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'secret-key': { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port must be 0 to 65535, got ${values.port}`);

  const sim = await startProviderSimulator({
    port,
    host: values.host,
    ...(values['secret-key'] === undefined ? {} : { secretKey: values['secret-key'] }),
  });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  process.stdout.write(`${JSON.stringify({ url: sim.url, secret_key: sim.secretKey })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`provider simulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
