import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { status as Code, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { type Charge, CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { callUnary, metadata, rawUnary } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';
const create = PaymentServiceClient.prototype.createCharge;

function request(overrides: Partial<CreateChargeRequest> = {}): CreateChargeRequest {
  return {
    amount: '2500',
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: 'cus_1',
    description: 'order',
    metadata: { order_id: 'o-1', channel: 'web' },
    captureMethod: 0,
    ...overrides,
  };
}

function errorInfoReason(err: ServiceError | undefined): string | undefined {
  const bin = err?.metadata.get('grpc-status-details-bin')[0];
  return bin instanceof Buffer ? decodeStatusDetails(bin).errorInfo?.reason : undefined;
}

describe('idempotency interceptor', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });
  const key = (): string => `key-${randomUUID()}`;

  describe('key validation', () => {
    const cases: Array<[string, (md: Metadata) => void]> = [
      ['missing', () => undefined],
      ['empty', (md) => md.set('idempotency-key', '')],
      ['longer than 255 characters', (md) => md.set('idempotency-key', 'k'.repeat(256))],
      [
        'sent twice',
        (md) => {
          md.add('idempotency-key', 'a');
          md.add('idempotency-key', 'b');
        },
      ],
    ];
    for (const [what, mutate] of cases) {
      it(`rejects a key that is ${what} with INVALID_ARGUMENT and IDEMPOTENCY_KEY_INVALID, before any provider call`, async () => {
        const md = t.md();
        mutate(md);
        const before = t.sim.stats().requests;
        const res = await callUnary(t.client, create, request(), md);
        expect(res.error?.code, res.error?.details).to.equal(Code.INVALID_ARGUMENT);
        expect(res.error?.details).to.match(/idempotency-key/);
        expect(errorInfoReason(res.error)).to.equal('IDEMPOTENCY_KEY_INVALID');
        expect(t.sim.stats().requests).to.equal(before);
      });
    }
    it('rejects a key with non-printable characters (sent over raw HTTP/2) with INVALID_ARGUMENT', async () => {
      const res = await rawHttp2Call(t.port, CREATE, CreateChargeRequest.encode(request()).finish(), {
        authorization: `Bearer ${t.apiKey}`,
        'idempotency-key': 'caf\u00e9',
      });
      expect(res['grpc-status']).to.equal(String(Code.INVALID_ARGUMENT));
      expect(decodeURIComponent(String(res['grpc-message']))).to.match(/idempotency key.*printable ASCII/);
    });
    it('accepts a key of exactly 255 printable characters', async () => {
      const res = await callUnary(t.client, create, request(), t.md(`~ ${'x'.repeat(253)}`));
      expect(res.error).to.equal(undefined);
    });
    it('lets read-only methods (NO_SIDE_EFFECTS in the proto) through without a key', async () => {
      const res = await callUnary(t.client, PaymentServiceClient.prototype.listCharges, { pageSize: 1, pageToken: '', customerId: '' }, t.md());
      expect(res.error).to.equal(undefined);
      expect(res.headers.get('idempotency-expires-at')).to.deep.equal([]);
    });
  });

  describe('replay', () => {
    it('replays the stored bytes byte for byte, with the original status and idempotent-replayed: true', async () => {
      const k = key();
      const bytes = CreateChargeRequest.encode(request()).finish();
      const first = await rawUnary(t.port, CREATE, bytes, t.md(k));
      const second = await rawUnary(t.port, CREATE, bytes, t.md(k));
      expect(first.error).to.equal(undefined);
      expect(second.bytes!.equals(first.bytes!)).to.equal(true);
      expect(second.headers.get('idempotent-replayed')).to.deep.equal(['true']);
      expect(second.headers.get('idempotency-expires-at')).to.deep.equal(first.headers.get('idempotency-expires-at'));
      const expires = Date.parse(String(first.headers.get('idempotency-expires-at')[0]));
      expect(expires - Date.now()).to.be.within(86_000_000, 86_500_000);
      expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === 'o-1').length).to.be.greaterThan(0);
    });

    it('charges the provider once for any number of sequential retries', async () => {
      const k = key();
      const order = `o-${randomUUID()}`;
      const results: Charge[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await callUnary(t.client, create, request({ metadata: { order_id: order } }), t.md(k));
        results.push(res.response!);
      }
      expect(new Set(results.map((c) => c.id)).size).to.equal(1);
      expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
    });

    it('replays a declined charge as the same OK response with the failure', async () => {
      const k = key();
      const first = await callUnary(t.client, create, request({ paymentMethod: 'pm_card_chargeDeclined' }), t.md(k));
      const second = await callUnary(t.client, create, request({ paymentMethod: 'pm_card_chargeDeclined' }), t.md(k));
      expect(first.response?.failureCode).to.not.equal('');
      expect(second.response).to.deep.equal(first.response);
      expect(second.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    });

    it('refuses an invalid request before claiming its key: no row, no provider request, and the corrected request runs', async () => {
      const k = key();
      const requests = t.sim.stats().requests;
      const first = await callUnary(t.client, create, request({ amount: '-1' }), t.md(k));
      expect(first.error?.code).to.equal(Code.INVALID_ARGUMENT);
      expect(errorInfoReason(first.error)).to.equal('FIELD_INVALID');
      const [rows] = await t.pool.query('SELECT id FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?', [t.merchantId, k]);
      expect(rows).to.have.length(0);
      expect(t.sim.stats().requests).to.equal(requests);
      // Nothing was stored, so the same key with a corrected request is a new request, not a reuse.
      const corrected = await callUnary(t.client, create, request(), t.md(k));
      expect(corrected.error).to.equal(undefined);
      expect(corrected.headers.get('idempotent-replayed')).to.deep.equal([]);
    });

    it('replays a definitive refusal of the provider with the same message and details', async () => {
      const k = key();
      const first = await callUnary(t.client, create, request({ paymentMethod: 'pm_no_such_method' }), t.md(k));
      const second = await callUnary(t.client, create, request({ paymentMethod: 'pm_no_such_method' }), t.md(k));
      expect(first.error?.code).to.equal(Code.INVALID_ARGUMENT);
      // Trailers-only answer: the key's expiry travels with the status.
      expect(String(first.error?.metadata.get('idempotency-expires-at')[0])).to.match(/^\d{4}-\d\d-\d\dT/);
      expect(second.error?.code).to.equal(Code.INVALID_ARGUMENT);
      expect(second.error?.details).to.equal(first.error?.details);
      expect(second.error?.metadata.get('grpc-status-details-bin')).to.deep.equal(first.error?.metadata.get('grpc-status-details-bin'));
      expect(second.headers.get('idempotent-replayed')).to.deep.equal(['true']);
    });
  });

  describe('payload mismatch', () => {
    const changes: Array<[string, Partial<CreateChargeRequest>]> = [
      ['amount', { amount: '2501' }],
      ['customer', { customerId: 'cus_2' }],
      ['currency', { currency: 'eur' }],
      ['payment method', { paymentMethod: 'pm_card_mastercard' }],
      ['metadata', { metadata: { order_id: 'o-1', channel: 'app' } }],
    ];
    for (const [what, change] of changes) {
      it(`refuses the same key with another ${what} with FAILED_PRECONDITION and IDEMPOTENCY_KEY_REUSED`, async () => {
        const k = key();
        expect((await callUnary(t.client, create, request(), t.md(k))).error).to.equal(undefined);
        const before = t.sim.stats().requests;
        const res = await callUnary(t.client, create, request(change), t.md(k));
        expect(res.error?.code).to.equal(Code.FAILED_PRECONDITION);
        expect(errorInfoReason(res.error)).to.equal('IDEMPOTENCY_KEY_REUSED');
        expect(t.sim.stats().requests).to.equal(before);
      });
    }

    it('refuses the same key on another method', async () => {
      const k = key();
      const created = await callUnary(t.client, create, request({ captureMethod: 2 }), t.md(k));
      const res = await callUnary(t.client, PaymentServiceClient.prototype.captureCharge, { chargeId: created.response!.id }, t.md(k));
      expect(res.error?.code).to.equal(Code.FAILED_PRECONDITION);
      expect(errorInfoReason(res.error)).to.equal('IDEMPOTENCY_KEY_REUSED');
    });

    it('replays, not refuses, a request with reordered map entries, explicit defaults and unknown fields', async () => {
      const k = key();
      const first = await rawUnary(t.port, CREATE, CreateChargeRequest.encode(request()).finish(), t.md(k));
      // The same logical request written by hand: fields out of order, map entries reversed,
      // capture_method explicitly 0, and an unknown field 99.
      const w = new BinaryWriter();
      w.uint32((99 << 3) | 0).int32(7);
      w.uint32((6 << 3) | 2)
        .fork()
        .uint32(10)
        .string('order_id')
        .uint32(18)
        .string('o-1')
        .join();
      w.uint32((7 << 3) | 0).int32(0);
      w.uint32((4 << 3) | 2).string('cus_1');
      w.uint32((3 << 3) | 2).string('pm_card_visa');
      w.uint32((6 << 3) | 2)
        .fork()
        .uint32(10)
        .string('channel')
        .uint32(18)
        .string('web')
        .join();
      w.uint32((2 << 3) | 2).string('usd');
      w.uint32((1 << 3) | 0).int64(2500);
      w.uint32((5 << 3) | 2).string('order');
      const second = await rawUnary(t.port, CREATE, w.finish(), t.md(k));
      expect(second.error).to.equal(undefined);
      expect(second.headers.get('idempotent-replayed')).to.deep.equal(['true']);
      expect(second.bytes!.equals(first.bytes!)).to.equal(true);
    });
  });

  describe('scope', () => {
    it('keeps the same key of two merchants independent: two charges, neither sees the other', async () => {
      const k = key();
      const other = await t.newMerchant();
      const otherMd = (): Metadata => metadata({ authorization: `Bearer ${other.apiKey}`, 'idempotency-key': k });
      const a = await callUnary(t.client, create, request(), t.md(k));
      const b = await callUnary(t.client, create, request({ amount: '9999' }), otherMd());
      expect(a.error).to.equal(undefined);
      expect(b.error).to.equal(undefined);
      expect(b.headers.get('idempotent-replayed')).to.deep.equal([]);
      expect(b.response!.id).to.not.equal(a.response!.id);
      const bAgain = await callUnary(t.client, create, request({ amount: '9999' }), otherMd());
      expect(bAgain.response!.id).to.equal(b.response!.id);
      const got = await callUnary(
        t.client,
        PaymentServiceClient.prototype.getCharge,
        { chargeId: a.response!.id },
        metadata({ authorization: `Bearer ${other.apiKey}` }),
      );
      expect(got.error?.code).to.equal(Code.NOT_FOUND);
    });
  });

  describe('concurrency and cancellation', () => {
    it('lets concurrent duplicates wait for the leader and replay its charge', async () => {
      const k = key();
      const order = `o-${randomUUID()}`;
      t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
      const pending = Array.from({ length: 20 }, () => callUnary(t.client, create, request({ metadata: { order_id: order } }), t.md(k)));
      await t.sim.whenHeld(1);
      t.sim.releaseHeld();
      const results = await Promise.all(pending);
      expect(results.every((r) => r.error === undefined)).to.equal(true);
      expect(new Set(results.map((r) => r.response!.id)).size).to.equal(1);
      expect(results.filter((r) => r.headers.get('idempotent-replayed')[0] === 'true')).to.have.length(19);
      expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
    });

    it('answers ABORTED with RetryInfo to a duplicate whose deadline ends before the leader finishes', async () => {
      const k = key();
      t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
      const leader = callUnary(t.client, create, request(), t.md(k));
      await t.sim.whenHeld(1);
      const impatient = await callUnary(t.client, create, request(), t.md(k), { deadline: Date.now() + 300 });
      t.sim.releaseHeld();
      expect(impatient.error?.code).to.equal(Code.ABORTED);
      expect(errorInfoReason(impatient.error)).to.equal('IDEMPOTENCY_KEY_IN_USE');
      const details = decodeStatusDetails(impatient.error!.metadata.get('grpc-status-details-bin')[0] as Buffer);
      expect(details.retryInfo?.retryDelayMs).to.be.greaterThan(0);
      expect((await leader).error).to.equal(undefined);
    });

    it('finishes the charge when the client cancels mid-charge, and the retry replays it', async () => {
      const k = key();
      const order = `o-${randomUUID()}`;
      t.sim.faults.add({ kind: 'hold', match: { pathPrefix: '/v1/payment_intents' } });
      const cancelled = new Promise<ServiceError | null>((resolve) => {
        const call = t.client.createCharge(request({ metadata: { order_id: order } }), t.md(k), (err) => resolve(err));
        void t.sim.whenHeld(1).then(() => {
          call.cancel();
          t.sim.releaseHeld();
        });
      });
      expect((await cancelled)?.code).to.equal(Code.CANCELLED);
      const retry = await callUnary(t.client, create, request({ metadata: { order_id: order } }), t.md(k));
      expect(retry.error).to.equal(undefined);
      expect(retry.headers.get('idempotent-replayed')).to.deep.equal(['true']);
      expect(t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order)).to.have.length(1);
      const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: retry.response!.id }, t.md());
      expect(got.response?.id).to.equal(retry.response!.id);
    });
  });
});

/** A gRPC call over plain HTTP/2, to send header bytes a gRPC client library refuses to send. */
function rawHttp2Call(port: number, path: string, message: Uint8Array, headers: Record<string, string>): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    Buffer.from(message).copy(frame, 5);
    let responseHeaders: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      responseHeaders = h;
    });
    req.on('trailers', (trailers) => {
      session.close();
      resolve({ ...responseHeaders, ...trailers });
    });
    req.on('end', () => {
      session.close();
      resolve(responseHeaders);
    });
    req.on('error', reject);
    req.resume();
    req.end(frame);
  });
}
