/** The server processes a strategy runs on (the product's `src/main.ts` or `duplicates-server.ts`). */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import readline from 'node:readline';
import type { Pool } from '../../../src/db/pool.js';
import type { ProviderSimulator } from '../../../src/simulator/simulator.js';
import { compiledServer } from '../compiled-server.js';
import { isNaiveStrategy } from '../naive-key-store.js';
import { isPeerStrategy } from '../peer-idempotency.js';
import type { ProviderFaultProxy } from '../provider-fault-proxy.js';
import { ROOT } from './paths.js';
import { PRODUCT, type Strategy } from './strategies.js';

/** A cold start on a busy 2-core machine takes a few seconds. */
const SERVER_START_TIMEOUT_MS = 60_000;
/** Graceful stop of a server: it has no calls left by then, so this only bounds a wedged one. */
const SERVER_STOP_TIMEOUT_MS = 30_000;
/** Lines of a server's output kept to explain a failure. */
const SERVER_LOG_TAIL_LINES = 30;

export interface ServerProcess {
  port: number;
  /** SIGTERM, then SIGKILL if it is still there after SERVER_STOP_TIMEOUT_MS; resolves once it exited. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or an OOM kill would; resolves once it exited. */
  kill(): Promise<void>;
  /** User + system CPU seconds the process has used so far (0 once it is gone). */
  cpuSeconds(): number;
  logTail(): string;
  /** Log lines at warn level or above, counted by message. */
  warnings(): Map<string, number>;
}

/** Linux reports process CPU time in clock ticks; 100 per second on every mainstream kernel build. */
const CLOCK_TICKS_PER_SECOND = 100;
/** pino's numeric level of `warn`. */
const WARN_LEVEL = 40;

/** utime + stime of a live process, from /proc (the benchmark runs on Linux; elsewhere CPU is reported as 0). */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Every child this run started, so that a crash or Ctrl-C of the benchmark does not leave one behind. */
export const children = new Set<ChildProcess>();
let shuttingDown = false;

/** On Ctrl-C/SIGTERM: no server is started (or restarted after the kill) from now on. */
export function stopStartingServers(): void {
  shuttingDown = true;
}

/** Starts `script` (a path under the repository, see compiled-server.ts) compiled, with `args`. */
function startServerProcess(script: string, args: string[], env: Record<string, string>): Promise<ServerProcess> {
  if (shuttingDown) return Promise.reject(new Error('the benchmark is stopping'));
  const child = spawn(process.execPath, [...compiledServer(script), ...args], {
    cwd: ROOT,
    env: { ...process.env, PAYMENTS_LISTEN: '127.0.0.1:0', METRICS_LISTEN: '127.0.0.1:0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const tail: string[] = [];
  const warnings = new Map<string, number>();
  const keep = (line: string): void => {
    tail.push(line);
    if (tail.length > SERVER_LOG_TAIL_LINES) tail.shift();
  };
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), SERVER_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  const cpuSeconds = (): number => (child.exitCode !== null || child.signalCode !== null ? 0 : processCpuSeconds(child.pid));
  const logTail = (): string => tail.join('\n');
  if (child.stderr) readline.createInterface({ input: child.stderr }).on('line', keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${args.join(' ')} did not start listening within ${SERVER_START_TIMEOUT_MS} ms:\n${logTail()}`));
    }, SERVER_START_TIMEOUT_MS);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server ${args.join(' ')} exited before listening:\n${logTail()}`));
    });
    if (!child.stdout) throw new Error('no stdout pipe');
    // The stream is read to its end, not only up to the port: a full pipe would block the server.
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line);
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof entry === 'object' && entry !== null && 'level' in entry && typeof entry.level === 'number' && entry.level >= WARN_LEVEL) {
        const msg = 'msg' in entry ? String(entry.msg) : '(no message)';
        warnings.set(msg, (warnings.get(msg) ?? 0) + 1);
      }
      if (typeof entry === 'object' && entry !== null && 'msg' in entry && entry.msg === 'payments gRPC server listening' && 'port' in entry) {
        clearTimeout(timer);
        resolve({ port: Number(entry.port), stop, kill, cpuSeconds, logTail, warnings: () => warnings });
      }
    });
  });
}

export interface SharedEnv {
  mysqlUrl: string;
  pool: Pool;
  sim: ProviderSimulator;
  /** Between the servers and the simulator: drops the connection after a charge on chosen first attempts. */
  proxy: ProviderFaultProxy;
  redisUrl: string;
  redisPrefix: string;
}

export function startStrategyServer(strategy: Strategy, env: SharedEnv): Promise<ServerProcess> {
  const common = { MYSQL_URL: env.mysqlUrl, PAYMENTS_PROVIDER_URL: env.proxy.url, PAYMENTS_PROVIDER_SECRET_KEY: env.sim.secretKey };
  // One merchant's whole load goes to two instances: the per-merchant fairness limit (which no
  // other row has) would refuse most of it and measure the limit, not the exactly-once layer.
  if (strategy === PRODUCT) return startServerProcess('src/main.ts', [], { ...common, PAYMENTS_MAX_IN_FLIGHT_PER_MERCHANT: '1000000' });
  if (!isNaiveStrategy(strategy) && !isPeerStrategy(strategy)) throw new Error(`no server for strategy ${strategy}`);
  return startServerProcess('scripts/bench/duplicates-server.ts', ['--strategy', strategy], {
    ...common,
    BENCH_REDIS_URL: env.redisUrl,
    BENCH_REDIS_PREFIX: env.redisPrefix,
  });
}
