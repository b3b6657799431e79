import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../src/db/pool.js';
import { CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { createLogger } from '../src/logger.js';
import { ServerMetrics } from '../src/metrics.js';
import { callUnary, rawUnary } from './support/grpc-client.js';
import { type PrivateDatabase, startPrivateDatabase } from './support/private-database.js';
import { rawHttp2Messages } from './support/raw-http2.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';
const REPO_ROOT = path.resolve(__dirname, '..');
/** tsx start-up plus a migration check and one statement; far below this even on a cold CI box. */
const CLI_TIMEOUT_MS = 30_000;

/** Runs the operator command `npm run -s keys -- ...` against the given database. */
function keysCli(args: string[], mysqlUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [path.join(REPO_ROOT, 'scripts', 'keys.ts'), ...args],
      {
        cwd: REPO_ROOT,
        timeout: CLI_TIMEOUT_MS,
        env: { ...process.env, MYSQL_URL: mysqlUrl },
      },
      (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr });
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
        else reject(new Error(`keys command did not finish: ${error.message}`, { cause: error }));
      },
    );
  });
}
const create = PaymentServiceClient.prototype.createCharge;

function chargeRequest(order: string, overrides: Partial<CreateChargeRequest> = {}): CreateChargeRequest {
  return {
    amount: '4200',
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: '',
    description: '',
    metadata: { order_id: order },
    captureMethod: 0,
    ...overrides,
  };
}

async function keyRow(pool: Pool, merchantId: string, key: string): Promise<RowDataPacket | undefined> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT * FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?', [merchantId, key]);
  return rows[0];
}

function reason(err: { metadata: { get(k: string): unknown[] } } | undefined): string | undefined {
  const bin = err?.metadata.get('grpc-status-details-bin')[0];
  return bin ? decodeStatusDetails(bin as Buffer).errorInfo?.reason : undefined;
}

async function events(metrics: ServerMetrics, event: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('payments_idempotency_events_total')!.get();
  return metric.values.find((v) => v.labels['event'] === event)?.value ?? 0;
}

describe('money-path regressions (issue: no input, storage error or passage of time may charge twice)', () => {
  let t: TestServer;
  const paymentsFor = (order: string): number => t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order).length;

  before(async () => {
    // Lease 1 s; the completer is started with a long interval and driven by runOnce().
    t = await startTestServer({ leaseSeconds: 1, ttlSeconds: 3, completerIntervalMs: 3_600_000 });
  });
  after(async () => {
    await t.close();
  });

  it('charges, records and replays byte for byte a charge whose metadata is 44 values of 500 CJK characters (over 64 KB as JSON)', async () => {
    const key = randomUUID();
    const order = `cjk-${key}`;
    const metadata: Record<string, string> = { order_id: order };
    for (let i = 0; i < 44; i++) metadata[`k${i}`] = '支'.repeat(500);
    const request = CreateChargeRequest.encode(chargeRequest(order, { metadata })).finish();
    const first = await rawUnary(t.port, CREATE, request, t.md(key));
    expect(first.error).to.equal(undefined);
    expect((await keyRow(t.pool, t.merchantId, key))?.['state']).to.equal('completed');
    const [charges] = await t.pool.query<RowDataPacket[]>('SELECT metadata FROM charges WHERE merchant_id = ? AND provider_reference <> ?', [t.merchantId, '']);
    expect(charges.some((c) => (JSON.parse(String(c['metadata'])) as Record<string, string>)['k43'] === '支'.repeat(500))).to.equal(true);
    const replay = await rawUnary(t.port, CREATE, request, t.md(key));
    expect(replay.bytes?.equals(first.bytes!)).to.equal(true);
    expect(paymentsFor(order)).to.equal(1);
  });

  it('replays an outcome completed after its claim-time expiry for a whole TTL from its completion, never charging again', async () => {
    const key = randomUUID();
    const order = `late-${key}`;
    t.sim.faults.add({ kind: 'chargeThenDrop', match: { pathPrefix: '/v1/payment_intents' } });
    const first = await callUnary(t.client, create, chargeRequest(order), t.md(key));
    expect(first.error?.code).to.equal(Code.UNAVAILABLE);
    // The outcome stayed unknown longer than the 3 s TTL: set the row's clock there explicitly.
    await t.pool.query(
      'UPDATE idempotency_keys SET expires_at = NOW(6) - INTERVAL 1 SECOND, locked_until = NOW(6) WHERE merchant_id = ? AND idempotency_key = ?',
      [t.merchantId, key],
    );
    const resumed = await callUnary(t.client, create, chargeRequest(order), t.md(key));
    expect(resumed.error).to.equal(undefined);
    // The retry that comes right after is a replay, not a new claim with a new provider key.
    const again = await callUnary(t.client, create, chargeRequest(order), t.md(key));
    expect(paymentsFor(order)).to.equal(1);
    expect(again.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    expect(again.response?.id).to.equal(resumed.response?.id);
    const row = await keyRow(t.pool, t.merchantId, key);
    const [[now]] = await t.pool.query<RowDataPacket[]>('SELECT NOW(6) AS now');
    expect((row!['expires_at'] as Date).getTime()).to.be.greaterThan((now!['now'] as Date).getTime() + 1_000);
    expect(new Date(String(again.headers.get('idempotency-expires-at')[0])).getTime()).to.equal((row!['expires_at'] as Date).getTime());
    expect(paymentsFor(order)).to.equal(1);
  });

  it('refuses a second request message on a unary call and leaves nothing for the completer to charge', async () => {
    const key = randomUUID();
    const order = `two-${key}`;
    const message = CreateChargeRequest.encode(chargeRequest(order)).finish();
    const other = CreateChargeRequest.encode(chargeRequest(order, { amount: '9999' })).finish();
    const answer = await rawHttp2Messages(t.port, CREATE, [message, other], { authorization: `Bearer ${t.apiKey}`, 'idempotency-key': key });
    expect(Number(answer['grpc-status'])).to.equal(Code.INVALID_ARGUMENT);
    expect(decodeURIComponent(String(answer['grpc-message']))).to.match(/exactly one request message/);
    // The first message's claim was ended, not left in progress for the completer.
    expect(await keyRow(t.pool, t.merchantId, key)).to.equal(undefined);
    await t.running.completer!.runOnce();
    expect(paymentsFor(order)).to.equal(0);
    // The key is free: a proper call with it charges once.
    expect((await callUnary(t.client, create, chargeRequest(order), t.md(key))).error).to.equal(undefined);
    expect(paymentsFor(order)).to.equal(1);
  });

  it('refuses a request whose text is not valid UTF-8 before claiming, and keeps a real U+FFFD a client sends', async () => {
    const key = randomUUID();
    const order = `utf8-${key}`;
    const valid = CreateChargeRequest.encode(chargeRequest(order, { description: 'caf\uFFFD' })).finish();
    // The same request with the description's bytes replaced by invalid UTF-8 (0xff 0xfe).
    const w = new BinaryWriter();
    w.uint32((1 << 3) | 0)
      .int64('4200')
      .uint32((2 << 3) | 2)
      .string('usd')
      .uint32((3 << 3) | 2)
      .string('pm_card_visa');
    w.uint32((5 << 3) | 2).bytes(Uint8Array.from([0x63, 0xff, 0xfe]));
    w.uint32((6 << 3) | 2)
      .fork()
      .uint32(10)
      .string('order_id')
      .uint32(18)
      .string(order)
      .join();
    const requests = t.sim.stats().requests;
    const refused = await rawHttp2Messages(t.port, CREATE, [w.finish()], { authorization: `Bearer ${t.apiKey}`, 'idempotency-key': key });
    expect(Number(refused['grpc-status'])).to.equal(Code.INVALID_ARGUMENT);
    expect(decodeURIComponent(String(refused['grpc-message']))).to.match(/not valid UTF-8/);
    expect(await keyRow(t.pool, t.merchantId, key)).to.equal(undefined);
    expect(t.sim.stats().requests).to.equal(requests);
    // U+FFFD sent as proper UTF-8 is text like any other.
    const accepted = await rawUnary(t.port, CREATE, valid, t.md(key));
    expect(accepted.error).to.equal(undefined);
    expect(paymentsFor(order)).to.equal(1);
  });

  it('finishes a resumable abandoned row even when older rows it cannot resume would fill every batch', async () => {
    const key = randomUUID();
    const order = `behind-${key}`;
    t.sim.faults.add({ kind: 'chargeThenDrop', match: { pathPrefix: '/v1/payment_intents' } });
    expect((await callUnary(t.client, create, chargeRequest(order), t.md(key))).error?.code).to.equal(Code.UNAVAILABLE);
    await t.pool.query("UPDATE idempotency_keys SET locked_until = '2000-01-01' WHERE merchant_id = ? AND idempotency_key = ?", [t.merchantId, key]);
    // 25 older rows this build cannot resume: no stored request (claimed before it was kept),
    // or a method of a newer version during a rolling deploy.
    const blockers = Array.from({ length: 25 }, (_, i) => [
      t.merchantId,
      `blocker-${key}-${i}`,
      i % 2 === 0 ? CREATE : '/payments.v1.PaymentService/FutureMethod',
      Buffer.alloc(32, i),
      1,
      i % 2 === 0 ? null : Buffer.from([8, 1]),
      'in_progress',
      'provider_requested',
      '1999-01-01',
    ]);
    await t.pool.query(
      `INSERT INTO idempotency_keys (merchant_id, idempotency_key, method, fingerprint, fingerprint_version, request_body, state,
         recovery_point, locked_until, lease_version, expires_at) VALUES ${blockers.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, 1, NOW(6) + INTERVAL 1 DAY)').join(', ')}`,
      blockers.flat(),
    );
    try {
      await t.running.completer!.runOnce();
      expect((await keyRow(t.pool, t.merchantId, key))?.['state']).to.equal('completed');
      expect(paymentsFor(order)).to.equal(1);
    } finally {
      await t.pool.query('DELETE FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key LIKE ?', [t.merchantId, `blocker-${key}-%`]);
    }
  });
});

describe('outcomes the database refuses to store (needs_attention)', function () {
  this.timeout(180_000);
  let privateDb: PrivateDatabase;
  let t: TestServer;
  const metrics = new ServerMetrics();
  const logLines: string[] = [];

  before(async () => {
    privateDb = await startPrivateDatabase();
    // A column narrower than what the service writes stands for every "accepted but unstorable"
    // case: a decline's provider message no longer fits failure_message.
    await privateDb.pool.query("ALTER TABLE charges MODIFY failure_message VARCHAR(5) NOT NULL DEFAULT ''");
    t = await startTestServer({
      pool: privateDb.pool,
      leaseSeconds: 1,
      completerIntervalMs: 3_600_000,
      metrics,
      log: createLogger('info', { write: (line: string) => void logLines.push(line) }),
    });
  });
  after(async () => {
    await t?.close();
    await privateDb?.close();
  });

  it('parks the key after the provider charged, answers IDEMPOTENCY_KEY_NEEDS_ATTENTION, and never sends the charge again', async () => {
    const key = randomUUID();
    const order = `unstorable-${key}`;
    const secret = `customer-secret-${key}`;
    const request = chargeRequest(order, { paymentMethod: 'pm_card_chargeDeclined', metadata: { order_id: order, note: secret } });
    const first = await callUnary(t.client, create, request, t.md(key));
    expect(first.error?.code).to.equal(Code.FAILED_PRECONDITION);
    expect(reason(first.error)).to.equal('IDEMPOTENCY_KEY_NEEDS_ATTENTION');
    const row = await keyRow(t.pool, t.merchantId, key);
    expect(row?.['state']).to.equal('needs_attention');
    expect(row?.['attention_reason']).to.equal('outcome_not_storable');
    expect(await events(metrics, 'needs_attention')).to.equal(1);

    const requests = t.sim.stats().requests;
    const retry = await callUnary(t.client, create, request, t.md(key));
    expect(retry.error?.code).to.equal(Code.FAILED_PRECONDITION);
    expect(reason(retry.error)).to.equal('IDEMPOTENCY_KEY_NEEDS_ATTENTION');
    await t.running.completer!.runOnce();
    await t.running.reaper?.runOnce();
    expect(t.sim.stats().requests).to.equal(requests);
    expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
    expect((await keyRow(t.pool, t.merchantId, key))?.['state']).to.equal('needs_attention');

    // Logged once, without SQL text or the customer's data.
    const parked = logLines.filter((l) => l.includes('needs_attention'));
    expect(parked).to.have.length(1);
    for (const line of logLines) {
      expect(line).to.not.include(secret);
      expect(line).to.not.match(/INSERT INTO|UPDATE idempotency_keys|SELECT /);
      expect(line).to.not.include(key);
    }
  });

  it('lists parked keys for the operator, who resumes one after fixing its cause and releases another', async () => {
    const order = `operator-${randomUUID()}`;
    const [resumeKey, releaseKey] = [randomUUID(), randomUUID()];
    const request = chargeRequest(order, { paymentMethod: 'pm_card_chargeDeclined' });
    for (const key of [resumeKey, releaseKey]) {
      expect(reason((await callUnary(t.client, create, request, t.md(key))).error)).to.equal('IDEMPOTENCY_KEY_NEEDS_ATTENTION');
    }
    const listed = await keysCli(['attention'], privateDb.db.url);
    expect(listed.code).to.equal(0);
    const parked = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    const toResume = parked.find((p) => p['idempotency_key'] === resumeKey);
    const toRelease = parked.find((p) => p['idempotency_key'] === releaseKey);
    expect(toResume).to.include({ reason: 'outcome_not_storable', method: CREATE, merchant_id: t.merchantId });
    expect(toRelease).to.not.equal(undefined);

    // The operator widens the column again, then hands the key back: the completer resumes it
    // with the same provider key, so the provider answers from its memory and nothing is charged twice.
    await privateDb.pool.query("ALTER TABLE charges MODIFY failure_message VARCHAR(500) NOT NULL DEFAULT ''");
    expect((await keysCli(['retry', '--id', toResume!['id']!], privateDb.db.url)).code).to.equal(0);
    expect((await keysCli(['retry', '--id', toResume!['id']!], privateDb.db.url)).code).to.equal(1); // no longer parked
    await t.running.completer!.runOnce();
    expect((await keyRow(t.pool, t.merchantId, resumeKey))?.['state']).to.equal('completed');
    const replay = await callUnary(t.client, create, request, t.md(resumeKey));
    expect(replay.error).to.equal(undefined);
    expect(replay.response?.status).to.not.equal(undefined);
    expect(replay.headers.get('idempotent-replayed')).to.deep.equal(['true']);

    expect((await keysCli(['release', '--id', toRelease!['id']!], privateDb.db.url)).code).to.equal(0);
    expect(await keyRow(t.pool, t.merchantId, releaseKey)).to.equal(undefined);
    expect((await keysCli(['retry'], privateDb.db.url)).code).to.equal(2);
  });
});
