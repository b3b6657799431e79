import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Pool } from '../src/db/pool.js';
import type { CreateChargeRequest } from '../src/gen/payments/v1/payments.js';
import { createLogger, type Logger } from '../src/logger.js';
import { type AbuseServer, startAbuseServer } from './support/abuse-server.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { type PrivateDatabase, startPrivateDatabase } from './support/private-database.js';

/**
 * Marker strings in every field a client or the provider can fill. None of them (nor the API
 * key's hash) may appear in any log line, at any level, on any error path.
 */
const run = randomBytes(6).toString('hex');
const M = {
  apiKey: `sk_live_MRKAPIKEY${run}`,
  idempotencyKey: `MRKIDEMKEY${run}`,
  metadataValue: `MRKMETAVALUE${run}`,
  description: `MRKDESCRIPTION${run}`,
  customerId: `MRKCUSTOMER${run}`,
  paymentMethod: `pm_MRKPAYMENTMETHOD${run}`,
  providerSecret: `sk_test_MRKPROVIDERSECRET${run}`,
};

function markersIn(text: string): string[] {
  const found = Object.entries(M)
    .filter(([, marker]) => text.includes(marker))
    .map(([name]) => name);
  // Every key we authenticate is stored and looked up by its SHA-256: that must not be logged either.
  const sha = createHash('sha256').update(M.apiKey).digest();
  if (text.includes(sha.toString('hex')) || text.includes(sha.toString('base64'))) found.push('apiKey hash');
  return found;
}

/** Every log line of a server, at every level. */
function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('trace', { write: (line: string) => void lines.push(line) }), lines };
}

function charge(overrides: Partial<CreateChargeRequest> = {}): CreateChargeRequest {
  return {
    amount: '1500',
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: M.customerId,
    description: M.description,
    metadata: { order: M.metadataValue, [`k${run}`]: M.metadataValue },
    captureMethod: 0,
    ...overrides,
  };
}

/** Makes the marker API key one of `merchantId`'s keys (a new row each time, so a running server's key index picks it up). */
async function giveMarkerKey(pool: Pool, merchantId: string): Promise<void> {
  const hash = createHash('sha256').update(M.apiKey).digest();
  await pool.query('DELETE FROM api_keys WHERE key_hash = ?', [hash]);
  await pool.query('INSERT INTO api_keys (key_hash, merchant_id, key_prefix) VALUES (?, ?, ?)', [hash, merchantId, M.apiKey.slice(0, 12)]);
}

/** Its own idempotency key for each call, every one carrying the marker. */
const idem = (): string => `${M.idempotencyKey}-${randomUUID()}`;

/**
 * A provider that answers every request with what it received (the form body, with the
 * customer's values, and the Authorization header, with our secret) in the shape the test
 * asks for: the worst a misbehaving or compromised provider can send back.
 */
async function startEchoProvider(): Promise<{ url: string; mode: { status: number; shape: 'text' | 'json-error' | 'json-object' }; close(): Promise<void> }> {
  const mode: { status: number; shape: 'text' | 'json-error' | 'json-object' } = { status: 200, shape: 'text' };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const echo = `${req.headers.authorization ?? ''} ${decodeURIComponent(Buffer.concat(chunks).toString('utf8'))} ${req.url ?? ''}`;
      const body =
        mode.shape === 'text'
          ? `not json: ${echo}`
          : mode.shape === 'json-error'
            ? JSON.stringify({
                error: { type: mode.status === 402 ? 'card_error' : 'invalid_request_error', code: 'card_declined', message: echo, param: 'payment_method' },
              })
            : JSON.stringify({ id: echo, object: 'payment_intent', amount: echo, status: echo });
      res.writeHead(mode.status, { 'content-type': 'application/json', 'request-id': echo.slice(0, 100) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    mode,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('logs carry no customer data, keys or secrets', function () {
  this.timeout(120_000);

  it('on validation failures, provider refusals, declines, provider errors and outages, and authentication failures', async () => {
    const { log, lines } = capturingLogger();
    const t: AbuseServer = await startAbuseServer({ log, simSecretKey: M.providerSecret });
    try {
      await giveMarkerKey(t.pool, t.merchantId);
      const md = (key = idem()): ReturnType<typeof metadata> => t.md(M.apiKey, key);
      const create = (req: CreateChargeRequest, key?: string) => callUnary(t.client, t.client.createCharge, req, md(key));

      // Validation failures (before the claim): every field invalid in turn, each carrying markers.
      const invalid: Array<Partial<CreateChargeRequest>> = [
        { amount: '0' },
        { currency: M.customerId },
        { description: M.description.repeat(200) },
        { customerId: M.customerId.repeat(20) },
        { metadata: { [`${M.metadataValue}[x]`]: M.metadataValue } },
        { paymentMethod: M.paymentMethod.repeat(20) },
        { captureMethod: 99 as CreateChargeRequest['captureMethod'] },
      ];
      for (const fields of invalid) expect((await create(charge(fields))).error?.code).to.equal(3);
      // A malformed idempotency key.
      expect((await create(charge(), `${M.idempotencyKey},${M.idempotencyKey}`)).error?.code).to.equal(3);
      // Provider refusal (unknown payment method) and a decline.
      expect((await create(charge({ paymentMethod: M.paymentMethod }))).error?.code).to.equal(3);
      expect((await create(charge({ paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds' }))).response?.status).to.not.equal(undefined);
      // Provider errors: HTTP 500, a charge whose answer is lost, a provider that hangs past the timeout is too slow for a test; a refused connection.
      t.sim.faults.add({ kind: 'http500' });
      expect((await create(charge())).error?.code).to.equal(14);
      t.sim.faults.add({ kind: 'chargeThenDrop' });
      expect((await create(charge())).error?.code).to.equal(14);
      await t.sim.pause();
      expect((await create(charge())).error?.code).to.equal(14);
      await t.sim.resume();
      // A successful charge, then a capture/refund refused by the state machine, and a replay with another payload.
      const key = idem();
      const ok = await create(charge(), key);
      expect(ok.error).to.equal(undefined);
      expect((await create(charge({ amount: '1501' }), key)).error?.code).to.equal(9);
      const cap = await callUnary(t.client, t.client.captureCharge, { chargeId: ok.response!.id }, md());
      expect(cap.error?.code).to.equal(9);
      // Authentication failures: unknown, malformed and missing keys.
      expect((await callUnary(t.client, t.client.createCharge, charge(), t.md(`${M.apiKey}x`, idem()))).error?.code).to.equal(16);
      expect(
        (await callUnary(t.client, t.client.createCharge, charge(), metadata({ authorization: `Bearer ${M.apiKey} ${M.apiKey}`, 'idempotency-key': idem() })))
          .error?.code,
      ).to.equal(16);
      expect((await callUnary(t.client, t.client.createCharge, charge(), metadata({ 'idempotency-key': idem() }))).error?.code).to.equal(16);
    } finally {
      await t.close();
    }
    if (process.env['SHOW_LOGS']) process.stderr.write(lines.join(''));
    expect(lines.flatMap(markersIn), lines.join('')).to.deep.equal([]);
  });

  it('when the provider echoes the request and our secret in every kind of answer', async () => {
    const echo = await startEchoProvider();
    const { log, lines } = capturingLogger();
    const t = await startAbuseServer({ log, provider: { baseUrl: echo.url, secretKey: M.providerSecret } });
    try {
      await giveMarkerKey(t.pool, t.merchantId);
      const modes: Array<typeof echo.mode> = [
        { status: 200, shape: 'text' },
        { status: 200, shape: 'json-object' },
        { status: 400, shape: 'json-error' },
        { status: 402, shape: 'json-error' },
        { status: 404, shape: 'json-error' },
        { status: 401, shape: 'json-error' },
        { status: 500, shape: 'text' },
        { status: 418, shape: 'json-error' },
        { status: 400, shape: 'text' },
      ];
      for (const mode of modes) {
        Object.assign(echo.mode, mode);
        const r = await callUnary(t.client, t.client.createCharge, charge({ paymentMethod: M.paymentMethod }), t.md(M.apiKey, idem()));
        expect(r.error?.code ?? 0, JSON.stringify(mode)).to.be.a('number');
      }
    } finally {
      await t.close();
      await echo.close();
    }
    if (process.env['SHOW_LOGS']) process.stderr.write(lines.join(''));
    expect(lines.flatMap(markersIn), lines.join('')).to.deep.equal([]);
  });

  describe('with a private database', () => {
    let db: PrivateDatabase;
    before(async () => {
      db = await startPrivateDatabase();
    });
    after(async () => {
      await db?.close();
    });

    it('when a write fails with a data error after the provider charged, and when the database is killed', async () => {
      const { log, lines } = capturingLogger();
      const t = await startAbuseServer({ log, pool: db.pool, simSecretKey: M.providerSecret });
      try {
        await giveMarkerKey(db.pool, t.merchantId);
        // A column narrower than validation allows: the charge row (with every marker) cannot be written.
        await db.pool.query("ALTER TABLE charges MODIFY description VARCHAR(4) NOT NULL DEFAULT ''");
        await db.pool.query("SET GLOBAL sql_mode = 'STRICT_ALL_TABLES'");
        const r = await callUnary(t.client, t.client.createCharge, charge(), t.md(M.apiKey, idem()));
        expect(r.error, 'the data error must reach a status').to.not.equal(undefined);
        await db.pool.query("ALTER TABLE charges MODIFY description VARCHAR(1000) NOT NULL DEFAULT ''");

        // Errors nobody classified (INTERNAL, cause logged): a table gone from under the claim,
        // the handlers' reads and writes, and the API key lookup. Each failed statement quotes
        // the markers in its SQL text and values.
        const away = async (table: string, work: () => Promise<void>): Promise<void> => {
          await db.pool.query(`RENAME TABLE ${table} TO ${table}_away`);
          try {
            await work();
          } finally {
            await db.pool.query(`RENAME TABLE ${table}_away TO ${table}`);
          }
        };
        await away('idempotency_keys', async () => {
          expect((await callUnary(t.client, t.client.createCharge, charge(), t.md(M.apiKey, idem()))).error?.code).to.equal(13);
        });
        await away('charges', async () => {
          expect((await callUnary(t.client, t.client.createCharge, charge(), t.md(M.apiKey, idem()))).error?.code).to.be.a('number');
          const list = await callUnary(t.client, t.client.listCharges, { pageSize: 5, pageToken: '', customerId: M.customerId }, t.md(M.apiKey));
          expect(list.error?.code).to.equal(13);
        });
        await away('api_keys', async () => {
          expect((await callUnary(t.client, t.client.createCharge, charge(), t.md(`${M.apiKey}z`, idem()))).error?.code).to.equal(13);
        });
        expect(lines.length, 'the unclassified errors are logged').to.be.greaterThan(3);

        await db.db.kill('SIGKILL');
        const down = await callUnary(t.client, t.client.createCharge, charge(), t.md(M.apiKey, idem()));
        expect(down.error?.code).to.equal(14);
        const unknownKey = await callUnary(t.client, t.client.createCharge, charge(), t.md(`${M.apiKey}y`, idem()));
        expect(unknownKey.error?.code).to.equal(14);
        const read = await callUnary(t.client, t.client.listCharges, { pageSize: 5, pageToken: '', customerId: M.customerId }, t.md(M.apiKey));
        expect(read.error?.code).to.equal(14);
        await db.db.restart();
      } finally {
        await t.close();
      }
      expect(lines.length).to.be.greaterThan(0);
      if (process.env['SHOW_LOGS']) process.stderr.write(lines.join(''));
      expect(lines.flatMap(markersIn), lines.join('')).to.deep.equal([]);
    });
  });
});
