import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { CaptureMethod, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { createLogger } from '../src/logger.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { ProviderClient } from '../src/provider/provider-client.js';
import { type RunningServer, startServer } from '../src/server.js';
import { type ProviderSimulator, startProviderSimulator } from '../src/simulator/simulator.js';
import { callUnary, metadata, paymentClient, type UnaryResult } from './support/grpc-client.js';
import { checkHealth, watchHealth } from './support/health-watch.js';
import { type PrivateDatabase, startPrivateDatabase } from './support/private-database.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const SERVICE = 'payments.v1.PaymentService';
/**
 * How long the tests allow for each health transition. The promise is "within seconds"; the
 * measured figures are far below (printed by the first test), so this only bounds a broken build.
 */
const TRANSITION_DEADLINE_MS = 10_000;
/** Far longer than any test here runs: with it, only a call's failure can notice the outage in time. */
const PROBE_INTERVAL_NEVER_MS = 10 * 60_000;

const getCharge = PaymentServiceClient.prototype.getCharge;
const listCharges = PaymentServiceClient.prototype.listCharges;
const createCharge = PaymentServiceClient.prototype.createCharge;

/** The code, ErrorInfo reason and RetryInfo delay of a failed call. */
function failureOf(result: UnaryResult<unknown>): { code?: grpc.status; reason?: string; retryDelayMs?: number; details?: string } {
  const raw = result.error?.metadata.get('grpc-status-details-bin')[0];
  const details = raw instanceof Buffer ? decodeStatusDetails(raw) : undefined;
  return {
    code: result.error?.code,
    reason: details?.errorInfo?.reason,
    retryDelayMs: details?.retryInfo?.retryDelayMs,
    details: result.error?.details,
  };
}

function expectStoreUnavailable(result: UnaryResult<unknown>, what: string): void {
  const f = failureOf(result);
  expect(f.code, `${what}: ${f.code} ${f.details}`).to.equal(grpc.status.UNAVAILABLE);
  expect(f.reason, what).to.equal('STORE_UNAVAILABLE');
  expect(f.retryDelayMs, what).to.be.greaterThan(0);
  // Actionable and free of internals: no driver code, address or stack trace.
  expect(f.details, what).to.match(/retry/i);
  expect(f.details, what).to.not.match(/ECONN|127\.0\.0\.1|\bat \S+:\d+|SELECT/);
}

describe('reads and readiness during a database outage (private database killed with SIGKILL)', function () {
  this.timeout(180_000);
  let privateDb: PrivateDatabase;
  let t: TestServer;
  let down = false;

  async function killDatabase(): Promise<number> {
    down = true;
    await privateDb.db.kill('SIGKILL');
    return Date.now();
  }
  /**
   * Restarts the database. `beganAt` bounds the health events that can follow it: the
   * server's probe may see the database up (and turn SERVING) before restart() itself returns.
   */
  async function restartDatabase(): Promise<{ beganAt: number; upAt: number }> {
    const beganAt = Date.now();
    await privateDb.db.restart();
    down = false;
    return { beganAt, upAt: Date.now() };
  }

  before(async () => {
    privateDb = await startPrivateDatabase();
    t = await startTestServer({ pool: privateDb.pool });
  });
  afterEach(async () => {
    // A failed test must not leave the next one without a database.
    if (down) await restartDatabase();
  });
  after(async () => {
    await t?.close();
    await privateDb?.close();
  });

  it('reports payments.v1.PaymentService NOT_SERVING while the database is down and SERVING within seconds of its return, while "" stays SERVING, without any call', async () => {
    const health = watchHealth(t.port, SERVICE);
    const liveness = watchHealth(t.port, '');
    try {
      await health.until('SERVING', TRANSITION_DEADLINE_MS);
      await liveness.until('SERVING', TRANSITION_DEADLINE_MS);
      // No call is made: an idle instance must notice the outage by itself.
      const killedAt = await killDatabase();
      const notServingAt = await health.until('NOT_SERVING', TRANSITION_DEADLINE_MS, killedAt);
      // The empty name is liveness: the process is up and answering.
      expect(await checkHealth(t.port, '')).to.deep.equal({ status: 'SERVING' });
      expect(await checkHealth(t.port, SERVICE)).to.deep.equal({ status: 'NOT_SERVING' });

      const restarted = await restartDatabase();
      const servingAt = await health.until('SERVING', TRANSITION_DEADLINE_MS, restarted.beganAt);
      expect(liveness.history.map((h) => h.status)).to.deep.equal(['SERVING']);
      console.log(
        `      idle instance: NOT_SERVING ${notServingAt - killedAt} ms after the kill, SERVING ${servingAt - restarted.upAt} ms after the restart returned`,
      );
    } finally {
      health.close();
      liveness.close();
    }
  });

  it('answers GetCharge and ListCharges UNAVAILABLE with STORE_UNAVAILABLE while the database is down, also for an API key not yet cached, and serves them again after the restart', async () => {
    const created = await callUnary(
      t.client,
      createCharge,
      {
        amount: '1200',
        currency: 'usd',
        paymentMethod: 'pm_card_visa',
        customerId: '',
        description: '',
        metadata: {},
        captureMethod: CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
      },
      t.md(randomUUID()),
    );
    expect(created.error).to.equal(undefined);
    const chargeId = created.response!.id;
    // Created while the database is up and never used, so its key is not in the auth cache.
    const unseen = await t.newMerchant();
    const unseenMd = metadata({ authorization: `Bearer ${unseen.apiKey}` });
    const health = watchHealth(t.port, SERVICE);
    try {
      await health.until('SERVING', TRANSITION_DEADLINE_MS);
      const killedAt = await killDatabase();
      expectStoreUnavailable(await callUnary(t.client, getCharge, { chargeId }, t.md()), 'GetCharge');
      expectStoreUnavailable(await callUnary(t.client, listCharges, { pageSize: 10, pageToken: '', customerId: '' }, t.md()), 'ListCharges');
      // Authentication needs the database: neither UNAUTHENTICATED nor INTERNAL.
      expectStoreUnavailable(await callUnary(t.client, getCharge, { chargeId }, unseenMd), 'GetCharge with an uncached API key');
      await health.until('NOT_SERVING', TRANSITION_DEADLINE_MS, killedAt);

      const restarted = await restartDatabase();
      await health.until('SERVING', TRANSITION_DEADLINE_MS, restarted.beganAt);
      // Once health says SERVING, the very first reads succeed.
      const read = await callUnary(t.client, getCharge, { chargeId }, t.md());
      expect(read.error).to.equal(undefined);
      expect(read.response?.id).to.equal(chargeId);
      const list = await callUnary(t.client, listCharges, { pageSize: 10, pageToken: '', customerId: '' }, t.md());
      expect(list.error).to.equal(undefined);
      expect(list.response?.charges.map((c) => c.id)).to.include(chargeId);
      expect((await callUnary(t.client, getCharge, { chargeId }, unseenMd)).error?.code).to.equal(grpc.status.NOT_FOUND);
    } finally {
      health.close();
    }
  });

  describe('with the periodic probe too slow to matter', () => {
    let sim: ProviderSimulator;
    let provider: ProviderClient;
    let running: RunningServer;
    let client: PaymentServiceClient;
    let apiKey: string;

    before(async () => {
      sim = await startProviderSimulator();
      provider = new ProviderClient({ baseUrl: sim.url, secretKey: sim.secretKey });
      running = await startServer({
        pool: privateDb.pool,
        provider,
        log: createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent'),
        listen: '127.0.0.1:0',
        ttlSeconds: 86_400,
        leaseSeconds: 30,
        inFlightWaitMs: 10_000,
        readinessProbeIntervalMs: PROBE_INTERVAL_NEVER_MS,
      });
      apiKey = (await new MerchantStore(privateDb.pool).create(`readiness-${randomUUID()}`)).apiKey;
      client = paymentClient(running.port);
    });
    after(async () => {
      client?.close();
      await running?.shutdown(1000);
      provider?.close();
      await sim?.close();
    });

    it('turns NOT_SERVING as soon as a read meets the outage, and SERVING again soon after the database is back', async () => {
      const md = metadata({ authorization: `Bearer ${apiKey}` });
      // Authenticates (and caches the key) while the database is up.
      expect((await callUnary(client, listCharges, { pageSize: 1, pageToken: '', customerId: '' }, md)).error).to.equal(undefined);
      const health = watchHealth(running.port, SERVICE);
      try {
        await health.until('SERVING', TRANSITION_DEADLINE_MS);
        await killDatabase();
        const callAt = Date.now();
        expectStoreUnavailable(await callUnary(client, getCharge, { chargeId: 'ch_missing' }, md), 'GetCharge');
        const notServingAt = await health.until('NOT_SERVING', TRANSITION_DEADLINE_MS, callAt);
        const restarted = await restartDatabase();
        const servingAt = await health.until('SERVING', TRANSITION_DEADLINE_MS, restarted.beganAt);
        expect((await callUnary(client, getCharge, { chargeId: 'ch_missing' }, md)).error?.code).to.equal(grpc.status.NOT_FOUND);
        console.log(
          `      after a failed call: NOT_SERVING ${notServingAt - callAt} ms after the call began, SERVING ${servingAt - restarted.upAt} ms after the restart returned`,
        );
      } finally {
        health.close();
      }
    });
  });
});
