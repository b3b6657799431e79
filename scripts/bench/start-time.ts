/**
 * Start time of the service: from spawning its process to the first `SERVING` answer of the
 * readiness health check (`grpc.health.v1.Health/Check` for `payments.v1.PaymentService`).
 *
 *   npm run bench:start-time [-- --runs N]
 *
 * Three ways to start the same server, each measured `--runs` times (default 5) after one warm-up
 * start that is not counted (it applies the migrations, creates the development merchant and
 * fills tsx's transform cache and the OS file cache), in rotating order so that all of them meet
 * the same machine:
 *   - `tsx src/main.ts`: what `npm start` ran before the compiled build (TypeScript compiled in
 *     memory at every start);
 *   - `node --enable-source-maps dist/main.js`: what production runs, and what `npm start` runs
 *     after its `prestart` build;
 *   - `npm start`: npm, its `prestart` finding dist/ current (scripts/dist-is-current.cjs), then
 *     `node --enable-source-maps dist/main.js`.
 * Then the two ways a `prestart` can find out that there is nothing to compile, `--runs` times
 * each: scripts/dist-is-current.cjs (what `npm start` runs) and `npm run -s build` (tsc -b's own
 * up-to-date check, through a nested npm). And once, the build from nothing (`tsc` of
 * tsconfig.build.json into an empty scratch directory): the one-time cost of the first
 * `npm start` of a fresh checkout.
 *
 * Every start gets the environment `npm start` gets here, without the service's own variables,
 * plus MYSQL_URL (a private database this script starts, so the database's own start is not
 * measured, or MYSQL_URL when set), a free port and METRICS_LISTEN=127.0.0.1:0. The provider is
 * the built-in simulator, as in a plain `npm start`. Each server is stopped with SIGTERM (and
 * its process group with SIGKILL if it does not exit) before the next one starts.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { type LocalMysql, startLocalMysql } from '../../src/db/local-mysql.js';

const ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_RUNS = 5;
/** A start that takes longer than this is a failure, not a figure (a cold tsx start takes seconds). */
const START_TIMEOUT_MS = 60_000;
/** main.ts gives in-flight calls 20 s on SIGTERM; there are none, so this is only a safety net. */
const STOP_TIMEOUT_MS = 30_000;
/** Between health checks: the resolution of the figures. */
const POLL_INTERVAL_MS = 10;
/** One Check on an open connection answers in about a millisecond. */
const CHECK_DEADLINE_MS = 2_000;
/** Variables that configure the service (as test/npm-start.test.ts removes them). */
const CONFIG_VARIABLE = /^(MYSQL_URL|METRICS_LISTEN|LOG_LEVEL|PAYMENTS_.*|IDEMPOTENCY_.*)$/;

/** The readiness name (src/server.ts): SERVING once the server listens and its database answers. */
const PAYMENT_SERVICE_NAME = 'payments.v1.PaymentService';
const HEALTH_CHECK = (healthService as grpc.ServiceDefinition)['Check'] as grpc.MethodDefinition<{ service: string }, { status: string }>;

interface Variant {
  name: string;
  command: string;
  args: string[];
}

const VARIANTS: Variant[] = [
  { name: 'tsx src/main.ts (before)', command: path.join(ROOT, 'node_modules', '.bin', 'tsx'), args: ['src/main.ts'] },
  { name: 'node --enable-source-maps dist/main.js', command: process.execPath, args: ['--enable-source-maps', 'dist/main.js'] },
  { name: 'npm start (dist/ current)', command: 'npm', args: ['start'] },
];

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs a command to its end; resolves with how long it took (ms). */
function run(command: string, args: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`)) : resolve(performance.now() - started),
    );
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * One Check on a channel of its own: a shared subchannel that failed to connect waits out its
 * reconnect backoff (a second at first), which would be measured as start time.
 */
function checkReadiness(port: number): Promise<string | undefined> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      HEALTH_CHECK.path,
      HEALTH_CHECK.requestSerialize,
      HEALTH_CHECK.responseDeserialize,
      { service: PAYMENT_SERVICE_NAME },
      new grpc.Metadata(),
      { deadline: Date.now() + CHECK_DEADLINE_MS },
      (err, response) => {
        client.close();
        resolve(err ? undefined : response?.status);
      },
    );
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts the variant, returns the ms to its first readiness SERVING, and stops it. */
async function timeStart(variant: Variant, env: NodeJS.ProcessEnv): Promise<number> {
  const port = await freePort();
  const output: string[] = [];
  const started = performance.now();
  // Its own process group: npm, its shell, tsx and node are all stopped at the end.
  const child = spawn(variant.command, variant.args, {
    cwd: ROOT,
    env: { ...env, PAYMENTS_LISTEN: `127.0.0.1:${port}` },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString('utf8'));
    if (output.length > 50) output.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${variant.name} exited before SERVING:\n${output.join('')}`);
      if (performance.now() - started > START_TIMEOUT_MS) throw new Error(`${variant.name}: not SERVING within ${START_TIMEOUT_MS} ms:\n${output.join('')}`);
      if ((await checkReadiness(port)) === 'SERVING') return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  } finally {
    if (child.pid !== undefined && groupAlive(child.pid)) process.kill(-child.pid, 'SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS))]);
    if (child.pid !== undefined && groupAlive(child.pid)) {
      if (!stopped) log(`${variant.name} did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM: killed`);
      process.kill(-child.pid, 'SIGKILL');
    }
    await exited;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  const runs = Number(values.runs ?? DEFAULT_RUNS);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-start-time-'));
  let local: LocalMysql | undefined;
  try {
    let url = process.env['MYSQL_URL'];
    if (!url) {
      log(`starting a private database in ${tmp}`);
      local = await startLocalMysql({ dataDir: path.join(tmp, 'db') });
      url = local.url;
    }
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLE.test(name)));
    Object.assign(env, { MYSQL_URL: url, METRICS_LISTEN: '127.0.0.1:0', PAYMENTS_DATA_DIR: path.join(tmp, 'data') });

    log('building from nothing into a scratch directory');
    const out = path.join(tmp, 'build');
    const coldBuildMs = await run(process.execPath, [
      require.resolve('typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      out,
      '--tsBuildInfoFile',
      path.join(out, '.tsbuildinfo'),
    ]);
    log('npm run build (so that dist/ is up to date for the npm start runs)');
    await run('npm', ['run', '-s', 'build']);

    const times = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
    for (const variant of VARIANTS) {
      const ms = await timeStart(variant, env);
      log(`warm-up  ${variant.name}: ${(ms / 1000).toFixed(2)} s`);
    }
    for (let round = 0; round < runs; round++) {
      for (let i = 0; i < VARIANTS.length; i++) {
        const variant = VARIANTS[(round + i) % VARIANTS.length]!;
        const ms = await timeStart(variant, env);
        times.get(variant.name)!.push(ms);
        log(`run ${round + 1}/${runs}  ${variant.name}: ${(ms / 1000).toFixed(2)} s`);
      }
    }

    const checks = { 'node scripts/dist-is-current.cjs': [] as number[], 'npm run -s build': [] as number[] };
    for (let round = 0; round < runs; round++) {
      checks['node scripts/dist-is-current.cjs'].push(await run(process.execPath, ['scripts/dist-is-current.cjs']));
      checks['npm run -s build'].push(await run('npm', ['run', '-s', 'build']));
    }

    const seconds = (ms: number): string => (ms / 1000).toFixed(2).padStart(6);
    const lines = [
      `start to first SERVING of ${PAYMENT_SERVICE_NAME} (readiness), ${runs} runs each after one warm-up, ${os.cpus().length} cores, Node ${process.version}`,
      '',
      'start command                               median s    min s    max s',
      ...VARIANTS.map((v) => {
        const t = times.get(v.name)!;
        return `${v.name.padEnd(42)}  ${seconds(median(t))}   ${seconds(Math.min(...t))}   ${seconds(Math.max(...t))}`;
      }),
      '',
      'nothing to compile: prestart check               median s    min s    max s',
      ...Object.entries(checks).map(([name, t]) => `${name.padEnd(46)}  ${seconds(median(t))}   ${seconds(Math.min(...t))}   ${seconds(Math.max(...t))}`),
      '',
      `build from nothing (tsc -p tsconfig.build.json, once): ${(coldBuildMs / 1000).toFixed(1)} s`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await local?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
