import { type ChildProcessByStdio, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  CaptureMethod,
  type Charge,
  ChargeStatus,
  type ListChargesResponse,
  PaymentServiceClient,
  type Refund,
  RefundReason,
} from '../src/gen/payments/v1/payments.js';

const REPO_ROOT = path.resolve(__dirname, '..');
/** The acceptance criterion: `npm start` serves within 15 s, the first MariaDB init of the data dir included. */
const START_BUDGET_MS = 15_000;
/** `npm run build` from nothing type-checks the whole service: tens of seconds on a busy 2-core machine. */
const BUILD_TIMEOUT_MS = 240_000;
/** How long we wait at all before calling the start a failure (the budget is asserted separately). */
const START_DEADLINE_MS = 90_000;
/** main.ts gives in-flight calls 20 s; stopping MariaDB adds a few. */
const STOP_DEADLINE_MS = 40_000;
const POLL_INTERVAL_MS = 50;
/** Per-RPC deadline: far above a local round trip. */
const CALL_DEADLINE_MS = 15_000;
const DEFAULT_LISTEN = { host: '127.0.0.1', port: 50051 };
const DEFAULT_METRICS_PORT = 9464;
/** Variables that configure the service (DESIGN §7 and friends); all removed for a "no configuration" start. */
const CONFIG_VARIABLE = /^(MYSQL_URL|METRICS_LISTEN|LOG_LEVEL|PAYMENTS_.*|IDEMPOTENCY_.*)$/;

/** Throws a clear error when something on this machine already listens where `npm start` wants to. */
async function assertPortFree(port: number, what: string): Promise<void> {
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, DEFAULT_LISTEN.host, () => resolve());
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(
        `${DEFAULT_LISTEN.host}:${port} (${what}) is already in use on this machine (another \`npm start\`?); stop that process to run this test`,
      );
    }
    throw err;
  } finally {
    await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()));
  }
}

/** Alive and not a zombie. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return true; // no /proc: kill(0) succeeded, so it exists
  }
}

/** The command lines of the processes in process group `pgid` (Linux: /proc); undefined without /proc. */
function groupCommandLines(pgid: number): string[] | undefined {
  if (!existsSync('/proc/self/stat')) return undefined;
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        // Fields after the command name: state, ppid, pgrp.
        const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
        return pgrp === pgid ? [readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()] : [];
      } catch {
        return []; // exited meanwhile
      }
    });
}

/** Whether any process is left in the process group `pgid`. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function pollUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/** Promisifies one generated-stub call, as an application would. */
function unary<Res>(invoke: (callback: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((err, res) => (err ? reject(err) : resolve(res)));
  });
}

describe('npm start with no configuration', () => {
  let dataDir: string;
  let npm: ChildProcessByStdio<null, Readable, Readable> | undefined;
  let npmExit: Promise<number | null> | undefined;
  let mysqlPid: number | undefined;
  const stdout: Array<{ line: string; atMs: number }> = [];
  const stderr: string[] = [];
  let lineWaiters: Array<() => void> = [];

  const output = (): string => [...stdout.map((l) => l.line), ...stderr].join('\n');
  const jsonLines = (): Array<{ json: Record<string, unknown>; atMs: number }> =>
    stdout.flatMap(({ line, atMs }) => {
      try {
        const json: unknown = JSON.parse(line);
        return typeof json === 'object' && json !== null ? [{ json: json as Record<string, unknown>, atMs }] : [];
      } catch {
        return []; // npm's own "> exactly-once-payments@... start" banner
      }
    });
  const waitForLine = async (predicate: (json: Record<string, unknown>) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = jsonLines().find(({ json }) => predicate(json));
      if (found) return found;
      if (npm?.exitCode !== null || Date.now() > deadline) {
        throw new Error(`npm start ${npm?.exitCode !== null ? 'exited' : `did not log it within ${timeoutMs} ms`}:\n${output()}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        lineWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };

  before(async function () {
    this.timeout(BUILD_TIMEOUT_MS);
    await assertPortFree(DEFAULT_LISTEN.port, 'the gRPC port');
    await assertPortFree(DEFAULT_METRICS_PORT, 'the metrics port');
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'payments-npm-start-'));
    // `npm start` builds dist/ first when it is not current (the first start of a checkout, or
    // after an edit): a one-time cost like `npm install`'s, not part of the start budget below.
    // Built here, the start below finds dist/ current, as every start after the first does.
    await new Promise<void>((resolve, reject) =>
      execFile('npm', ['run', '-s', 'build'], { cwd: REPO_ROOT, timeout: BUILD_TIMEOUT_MS }, (err, stdout, stderr) =>
        err ? reject(new Error(`npm run build failed: ${err.message}\n${stdout}${stderr}`)) : resolve(),
      ),
    );
  });

  after(async function () {
    this.timeout(STOP_DEADLINE_MS);
    // Whatever happened above: nothing of this test keeps running.
    if (npm?.pid !== undefined && groupAlive(npm.pid)) process.kill(-npm.pid, 'SIGKILL');
    if (mysqlPid !== undefined && isAlive(mysqlPid)) {
      const cmdline = (() => {
        try {
          return readFileSync(`/proc/${mysqlPid}/cmdline`, 'utf8');
        } catch {
          return ''; // exited meanwhile
        }
      })();
      if (cmdline.includes(dataDir)) process.kill(mysqlPid, 'SIGKILL');
      await pollUntil(() => !isAlive(mysqlPid!), STOP_DEADLINE_MS, `mariadbd ${mysqlPid} to die`);
    }
    await npmExit;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves on 127.0.0.1:50051 within 15 s, runs the charge flow from the generated client, and stops cleanly on SIGTERM', async function () {
    this.timeout(START_DEADLINE_MS + STOP_DEADLINE_MS + 30_000);
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLE.test(name)));
    env['PAYMENTS_DATA_DIR'] = dataDir; // a fresh private database, initialised by this start

    const startedAt = performance.now();
    // Its own process group, so cleanup can reach npm, its shell and node at once.
    const child = spawn('npm', ['start'], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    npm = child;
    npmExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push({ line, atMs: performance.now() - startedAt });
      const waiters = lineWaiters;
      lineWaiters = [];
      for (const w of waiters) w();
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
    child.once('exit', () => {
      for (const w of lineWaiters) w();
    });

    const listening = await waitForLine((l) => l['msg'] === 'payments gRPC server listening', START_DEADLINE_MS);
    console.log(`      npm start: listening after ${(listening.atMs / 1000).toFixed(1)} s (fresh data dir, MariaDB init included)`);
    expect(listening.json['listen']).to.equal(`${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}`);
    expect(listening.json['port']).to.equal(DEFAULT_LISTEN.port);
    expect(listening.atMs, `time to listening (ms), budget ${START_BUDGET_MS}`).to.be.below(START_BUDGET_MS);
    const commands = groupCommandLines(child.pid!);
    if (commands !== undefined) {
      expect(
        commands.some((c) => c.includes('--enable-source-maps dist/main.js')),
        `npm start runs the compiled server: ${commands.join(' | ')}`,
      ).to.equal(true);
      expect(
        commands.filter((c) => c.includes('tsx')),
        'and no tsx',
      ).to.deep.equal([]);
    }

    const devKeys = jsonLines().filter(({ json }) => 'development_merchant_id' in json);
    expect(devKeys, 'the development merchant is printed exactly once').to.have.length(1);
    const apiKey = String(devKeys[0]?.json['api_key']);
    expect(apiKey).to.match(/^sk_live_/);

    const statePath = path.join(dataDir, 'mysql', 'local-mysql-state.json');
    mysqlPid = (JSON.parse(readFileSync(statePath, 'utf8')) as { pid: number }).pid;
    expect(isAlive(mysqlPid), 'the private mariadbd runs').to.equal(true);

    const client = new PaymentServiceClient(`${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}`, grpc.credentials.createInsecure());
    const md = (idempotencyKey?: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set('authorization', `Bearer ${apiKey}`);
      if (idempotencyKey !== undefined) m.set('idempotency-key', idempotencyKey);
      return m;
    };
    const opts = (): Partial<grpc.CallOptions> => ({ deadline: Date.now() + CALL_DEADLINE_MS });
    try {
      const created = await unary<Charge>((cb) =>
        client.createCharge(
          {
            amount: '5000',
            currency: 'usd',
            paymentMethod: 'pm_card_visa',
            customerId: 'cus_quickstart',
            description: 'npm start acceptance',
            metadata: { order_id: 'o-1' },
            captureMethod: CaptureMethod.CAPTURE_METHOD_MANUAL,
          },
          md(randomUUID()),
          opts(),
          cb,
        ),
      );
      expect(created.status).to.equal(ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE);
      expect(created.providerReference).to.match(/^pi_/);

      const captured = await unary<Charge>((cb) => client.captureCharge({ chargeId: created.id }, md(randomUUID()), opts(), cb));
      expect(captured.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
      expect(captured.amountCaptured).to.equal('5000');

      const refund = await unary<Refund>((cb) =>
        client.refundCharge({ chargeId: created.id, amount: '1500', reason: RefundReason.REFUND_REASON_REQUESTED_BY_CUSTOMER }, md(randomUUID()), opts(), cb),
      );
      expect(refund.amount).to.equal('1500');
      expect(refund.charge?.status).to.equal(ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED);

      const got = await unary<Charge>((cb) => client.getCharge({ chargeId: created.id }, md(), opts(), cb));
      expect({ status: got.status, amountCaptured: got.amountCaptured, amountRefunded: got.amountRefunded }).to.deep.equal({
        status: ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED,
        amountCaptured: '5000',
        amountRefunded: '1500',
      });

      const listed = await unary<ListChargesResponse>((cb) =>
        client.listCharges({ pageSize: 10, pageToken: '', customerId: 'cus_quickstart' }, md(), opts(), cb),
      );
      expect(listed.charges.map((c) => c.id)).to.deep.equal([created.id]);
    } finally {
      client.close();
    }

    // What a process supervisor does: SIGTERM to the process it started, which is npm.
    child.kill('SIGTERM');
    const code = await Promise.race([
      npmExit,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`npm did not exit within ${STOP_DEADLINE_MS} ms:\n${output()}`)), STOP_DEADLINE_MS).unref(),
      ),
    ]);
    await pollUntil(() => !groupAlive(child.pid!), STOP_DEADLINE_MS, 'the server behind npm to exit').catch(() => {
      throw new Error(
        `npm exited (code ${code}) but the server it started is still running in process group ${child.pid}: ` +
          `SIGTERM did not reach it (the start script's shell does not forward signals; "exec node ... dist/main.js" hands it over)\n${output()}`,
      );
    });
    expect(jsonLines().map(({ json }) => json['msg'])).to.include('stopped');
    expect(code, output()).to.equal(0);
    await pollUntil(() => !isAlive(mysqlPid!), STOP_DEADLINE_MS, `the private mariadbd (pid ${mysqlPid}) to exit`);
    expect(existsSync(statePath), 'the private database was stopped cleanly (its state file removed)').to.equal(false);
  });
});
