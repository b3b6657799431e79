import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

const ROOT = path.resolve(__dirname, '..', '..');
/** tsx compiles on start; a cold start on a busy 2-core machine takes a few seconds. */
const START_TIMEOUT_MS = 60_000;

export interface ServerProcess {
  port: number;
  child: ChildProcess;
  /** Log lines seen so far (JSON objects). */
  logs: Array<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Node's arguments for the service from its TypeScript sources, compiled in memory by tsx. */
export const FROM_SOURCES = ['--import', 'tsx', 'src/main.ts'] as const;
/** Node's arguments for the compiled service, as `npm start` and production run it (after `npm run build`). */
export const FROM_DIST = ['--enable-source-maps', 'dist/main.js'] as const;

/**
 * Starts the service (src/main.ts; the same code `npm start` runs compiled) as its own process
 * and resolves with its port. `nodeArgs` FROM_DIST runs the compiled build instead.
 */
export function startServerProcess(env: Record<string, string>, nodeArgs: readonly string[] = FROM_SOURCES): Promise<ServerProcess> {
  const child = spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    env: { ...process.env, PAYMENTS_LISTEN: '127.0.0.1:0', METRICS_LISTEN: '127.0.0.1:0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('server process did not start listening in time'));
    }, START_TIMEOUT_MS);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server process exited with ${code} before listening: ${JSON.stringify(logs.slice(-3))}`));
    });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry['msg'] === 'payments gRPC server listening') {
        clearTimeout(timer);
        resolve({
          port: Number(entry['port']),
          child,
          logs,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
  });
}
