import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { CreateChargeRequest, PaymentServiceService } from '../src/gen/payments/v1/payments.js';
import { canonicalBytes, FINGERPRINT_VERSION, fingerprintOf } from '../src/idempotency/fingerprint.js';
import { MysqlIdempotencyStore } from '../src/idempotency/mysql-idempotency-store.js';
import { type KeyRecord, RecoveryPoint } from '../src/idempotency/record.js';
import { sharedPool } from './support/database.js';
import { metadata } from './support/grpc-client.js';
import { startInterceptorServer, TEST_API_KEY } from './support/interceptor-server.js';

const PATH = PaymentServiceService.createCharge.path;

/**
 * A retry that takes over an abandoned row and is cancelled by its client
 * before its handler starts must hand the row back, never delete it: the row
 * may carry an earlier attempt's provider request, and deleting it would let
 * the next retry claim anew with a new provider key and charge twice.
 */
describe('a retry cancelled while it takes over an abandoned row', () => {
  it('keeps the row in progress (lease handed back) instead of deleting it, and never runs the handler', async () => {
    const pool = await sharedPool();
    const store = new MysqlIdempotencyStore(pool);
    const merchantId = `mer_cancel_${randomUUID().slice(0, 8)}`;
    const key = randomUUID();
    const request: CreateChargeRequest = {
      amount: '500',
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      customerId: '',
      description: '',
      metadata: {},
      captureMethod: 0,
    };
    const serialize = (v: unknown): Uint8Array => CreateChargeRequest.encode(v as CreateChargeRequest).finish();
    const canonical = canonicalBytes(request, serialize);
    // An earlier attempt claimed the key and reached the provider; its lease is over (0 s).
    await store.claim({
      scope: merchantId,
      key,
      method: PATH,
      payload: { fingerprint: fingerprintOf(PATH, canonical), fingerprintVersion: FINGERPRINT_VERSION, requestBody: canonical },
      recoveryPoint: RecoveryPoint.ProviderRequested,
      ttlSeconds: 60,
      leaseSeconds: 0,
    });

    // The takeover waits at this gate until the client has cancelled.
    let takeoverStarted!: () => void;
    const started = new Promise<void>((r) => (takeoverStarted = r));
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const gated = Object.create(store) as MysqlIdempotencyStore;
    gated.takeOver = async (record: KeyRecord, leaseSeconds: number) => {
      takeoverStarted();
      await gate;
      return store.takeOver(record, leaseSeconds);
    };

    let handlerRuns = 0;
    const server = await startInterceptorServer({
      store: gated,
      merchantId,
      handlers: {
        createCharge: (_call, cb) => {
          handlerRuns++;
          cb({ code: grpc.status.INTERNAL, details: 'must not run' });
        },
      },
    });
    const client = server.client;
    try {
      const done = new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.createCharge(request, metadata({ authorization: `Bearer ${TEST_API_KEY}`, 'idempotency-key': key }), (err) => resolve(err));
        void started.then(() => call.cancel());
      });
      expect((await done)?.code).to.equal(grpc.status.CANCELLED);
      openGate();

      // The interceptor ends the taken-over claim on its own; poll for that write (up to 10 s:
      // on a loaded machine it has taken more than the 2 s this once allowed).
      let row: RowDataPacket | undefined;
      for (const until = Date.now() + 10_000; Date.now() < until; ) {
        const [rows] = await pool.query<RowDataPacket[]>(
          'SELECT state, lease_version, locked_until <= NOW(6) AS lease_over FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?',
          [merchantId, key],
        );
        row = rows[0];
        if (!row || (Number(row['lease_version']) === 2 && Number(row['lease_over']) === 1)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(row, 'the row was deleted').to.not.equal(undefined);
      expect(row!['state']).to.equal('in_progress');
      expect(Number(row!['lease_version'])).to.equal(2);
      expect(Number(row!['lease_over'])).to.equal(1);
      expect(handlerRuns).to.equal(0);
    } finally {
      server.close();
      await pool.query('DELETE FROM idempotency_keys WHERE merchant_id = ?', [merchantId]);
    }
  });
});
