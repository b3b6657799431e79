import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { service as healthService } from 'grpc-health-check';
import { CaptureMethod, ChargeStatus, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { type ProviderSimulator, startProviderSimulator } from '../src/simulator/simulator.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';
import { callUnary, metadata, paymentClient } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const REPO_ROOT = path.resolve(__dirname, '..');
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
/** tsx compiles on the fly and the server migrates the database: a few seconds, more on a cold CI box. */
const SERVER_START_DEADLINE_MS = 30_000;
/** Below main.ts's 20 s grace period, so a call that only finishes by being cancelled fails the test. */
const EXIT_DEADLINE_MS = 15_000;
/** Per-RPC deadline: far above a local round trip, below the test timeout. */
const CALL_DEADLINE_MS = 20_000;

/** grpc.health.v1.Health/Check, with the (de)serializers of the definition grpc-health-check ships. */
const HEALTH_CHECK = (healthService as grpc.ServiceDefinition)['Check'] as grpc.MethodDefinition<{ service: string }, { status: string }>;
const HEALTH_WATCH = (healthService as grpc.ServiceDefinition)['Watch'] as grpc.MethodDefinition<{ service: string }, { status: string }>;

function checkHealth(port: number, service: string): Promise<{ status?: string; code?: grpc.status }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      HEALTH_CHECK.path,
      HEALTH_CHECK.requestSerialize,
      HEALTH_CHECK.responseDeserialize,
      { service },
      new grpc.Metadata(),
      { deadline: Date.now() + CALL_DEADLINE_MS },
      (err, response) => {
        client.close();
        resolve(err ? { code: err.code } : { status: response?.status ?? 'no response' });
      },
    );
  });
}

/** A Health/Watch stream; `next(s)` resolves once status `s` has been received. */
function watchHealth(port: number, service: string): { next: (status: string) => Promise<void>; close: () => void } {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const statuses: string[] = [];
  let waiter: { status: string; resolve: () => void; reject: (err: Error) => void } | undefined;
  const stream = client.makeServerStreamRequest(HEALTH_WATCH.path, HEALTH_WATCH.requestSerialize, HEALTH_WATCH.responseDeserialize, { service });
  stream.on('data', (response: { status: string }) => {
    statuses.push(response.status);
    if (waiter && response.status === waiter.status) waiter.resolve();
  });
  stream.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) waiter?.reject(err);
  });
  return {
    next: (status) =>
      statuses.includes(status)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            waiter = { status, resolve, reject };
          }),
    close: () => {
      stream.cancel();
      client.close();
    },
  };
}

describe('health service', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('reports SERVING for the whole server and for payments.v1.PaymentService, without an API key', async () => {
    expect(await checkHealth(t.port, '')).to.deep.equal({ status: 'SERVING' });
    expect(await checkHealth(t.port, 'payments.v1.PaymentService')).to.deep.equal({ status: 'SERVING' });
  });

  it('answers NOT_FOUND for a service it does not serve', async () => {
    expect(await checkHealth(t.port, 'payments.v1.NoSuchService')).to.deep.equal({ code: grpc.status.NOT_FOUND });
  });
});

/** A JSON log line of the server process. */
type LogLine = Record<string, unknown>;

/** The real `src/main.ts` as a child process, with its stdout parsed as JSON log lines. */
class ServerProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<() => void> = [];

  constructor(readonly child: ChildProcessByStdio<null, Readable, Readable>) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.lines.push({ msg: line, unparsed: true });
      }
      this.wake();
    });
    child.stderr.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString('utf8')));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.wake();
        resolve({ code, signal });
      }),
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line matching `predicate`; rejects at the deadline or if the process exits first. */
  async waitForLine(predicate: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(predicate);
      if (found) return found;
      if (!this.running) throw new Error(`server exited before the expected log line:\n${this.output()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected log line not seen within ${timeoutMs} ms:\n${this.output()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  output(): string {
    return [...this.lines.map((l) => JSON.stringify(l)), ...this.stderr].join('\n');
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

describe('graceful shutdown of the server process', () => {
  let sim: ProviderSimulator;
  let server: ServerProcess | undefined;

  before(async () => {
    sim = await startProviderSimulator();
  });
  afterEach(async () => {
    if (server?.running) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    server = undefined;
    sim.releaseHeld();
  });
  after(async () => {
    await sim.close();
  });

  it('lets a CreateCharge in flight at SIGTERM finish with OK while health turns NOT_SERVING and new connections are refused, then exits 0', async function () {
    this.timeout(90_000);
    const pool = await sharedPool();
    const merchant = await new MerchantStore(pool).create(`shutdown-${randomUUID()}`);
    // The provider holds the charge request until released: the call is provably in flight.
    sim.faults.add({ kind: 'hold', match: { method: 'POST', pathPrefix: '/v1/payment_intents' } });

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MYSQL_URL: sharedDatabaseUrl(),
      PAYMENTS_LISTEN: '127.0.0.1:0',
      METRICS_LISTEN: '127.0.0.1:0',
      PAYMENTS_PROVIDER_URL: sim.url,
      PAYMENTS_PROVIDER_SECRET_KEY: sim.secretKey,
      LOG_LEVEL: 'info',
    };
    server = new ServerProcess(spawn(TSX, ['src/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    const listening = await server.waitForLine((l) => l['msg'] === 'payments gRPC server listening', SERVER_START_DEADLINE_MS);
    const port = Number(listening['port']);
    expect(port).to.be.greaterThan(0);

    const client = paymentClient(port);
    // Opened before SIGTERM: after it, the server takes no new connections, only this stream sees the change.
    const health = watchHealth(port, 'payments.v1.PaymentService');
    try {
      await health.next('SERVING');
      const call = callUnary(
        client,
        PaymentServiceClient.prototype.createCharge,
        {
          amount: '3100',
          currency: 'usd',
          paymentMethod: 'pm_card_visa',
          customerId: '',
          description: 'in flight at SIGTERM',
          metadata: {},
          captureMethod: CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
        },
        metadata({ authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': randomUUID() }),
        { deadline: Date.now() + CALL_DEADLINE_MS },
      );
      await Promise.race([
        sim.whenHeld(1),
        call.then((r) => {
          throw new Error(`the call ended before reaching the provider: ${r.error?.message ?? 'OK'}\n${server?.output()}`);
        }),
      ]);

      server.child.kill('SIGTERM');
      await server.waitForLine((l) => l['msg'] === 'shutting down: finishing in-flight calls', EXIT_DEADLINE_MS);
      await health.next('NOT_SERVING');
      // An open Watch stream would hold shutdown for its whole grace period; a real client
      // (a load balancer) stops watching a server that is going away.
      health.close();
      // The listening socket is closed before in-flight calls are awaited.
      const late = paymentClient(port);
      const refused = await callUnary(
        late,
        PaymentServiceClient.prototype.getCharge,
        { chargeId: 'ch_none' },
        metadata({ authorization: `Bearer ${merchant.apiKey}` }),
        {
          deadline: Date.now() + 5_000,
        },
      );
      late.close();
      expect(refused.error?.code, 'a new connection was served during shutdown').to.equal(grpc.status.UNAVAILABLE);
      expect(server.running, 'the server exited with a call in flight').to.equal(true);

      expect(sim.releaseHeld()).to.equal(1);
      const result = await call;

      expect(result.error, server.output()).to.equal(undefined);
      expect(result.response?.status).to.equal(ChargeStatus.CHARGE_STATUS_SUCCEEDED);
      const [rows] = await pool.query('SELECT status FROM charges WHERE id = ?', [result.response?.id]);
      expect(rows).to.deep.equal([{ status: 'succeeded' }]);
    } finally {
      health.close();
      client.close();
    }

    const exit = await Promise.race([
      server.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit within ${EXIT_DEADLINE_MS} ms:\n${server?.output()}`)), EXIT_DEADLINE_MS).unref(),
      ),
    ]);
    expect(exit, server.output()).to.deep.equal({ code: 0, signal: null });
    expect(server.lines.map((l) => l['msg'])).to.include('stopped');
  });
});
