import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../src/db/pool.js';
import { CaptureMethod, type Charge, ChargeStatus } from '../src/gen/payments/v1/payments.js';
import { ClaimedRecord } from '../src/idempotency/claimed-record.js';
import { FINGERPRINT_VERSION } from '../src/idempotency/fingerprint.js';
import { MysqlIdempotencyStore } from '../src/idempotency/mysql-idempotency-store.js';
import { RecoveryPoint } from '../src/idempotency/record.js';
import { ChargeRepository } from '../src/payments/charge-repository.js';
import { PaymentService } from '../src/payments/payment-service.js';
import { ProviderClient } from '../src/provider/provider-client.js';
import { type ProviderSimulator, startProviderSimulator } from '../src/simulator/simulator.js';
import { sharedPool } from './support/database.js';

const LEASE_SECONDS = 30;
/** The claims' durations: no lookup window (these attempts resume within it). */
const TERMS = { leaseSeconds: LEASE_SECONDS, ttlSeconds: 3600, downstreamWindowSeconds: Number.POSITIVE_INFINITY };

/**
 * An attempt that recorded its refund, capture or cancel (recovery point charge_recorded) and
 * died before storing its answer. The attempt that resumes it must answer from what was
 * recorded: not send again, not apply the change to the charge a second time.
 */
describe('resuming an attempt whose rows were recorded but whose answer was not stored', () => {
  let pool: Pool;
  let sim: ProviderSimulator;
  let provider: ProviderClient;
  let service: PaymentService;
  let store: MysqlIdempotencyStore;
  const merchantId = `mer_resume_${randomUUID().slice(0, 8)}`;

  before(async () => {
    pool = await sharedPool();
    sim = await startProviderSimulator();
    provider = new ProviderClient({ baseUrl: sim.url, secretKey: sim.secretKey });
    service = new PaymentService(new ChargeRepository(pool), provider);
    store = new MysqlIdempotencyStore(pool);
  });
  after(async () => {
    provider.close();
    await sim.close();
  });

  async function claim(key: string): Promise<ClaimedRecord> {
    const claimed = await store.claim({
      scope: merchantId,
      key,
      method: '/payments.v1.PaymentService/Test',
      payload: { fingerprint: Buffer.alloc(32, 7), fingerprintVersion: FINGERPRINT_VERSION, requestBody: Buffer.alloc(0) },
      recoveryPoint: RecoveryPoint.ProviderRequested,
      ttlSeconds: 3600,
      leaseSeconds: LEASE_SECONDS,
    });
    if (!claimed.won) throw new Error('the claim of a new key must win');
    return new ClaimedRecord(store, claimed.record, false, TERMS);
  }

  /** The attempt died after its last write: its lease ends, and another attempt takes the row over. */
  async function resume(dead: ClaimedRecord, key: string): Promise<ClaimedRecord> {
    expect(dead.recoveryPoint).to.equal(RecoveryPoint.ChargeRecorded);
    await store.abandon(dead.fence);
    const row = await store.read(merchantId, key);
    const taken = await store.takeOver(row!, LEASE_SECONDS);
    expect(taken?.recoveryPoint).to.equal(RecoveryPoint.ChargeRecorded);
    return new ClaimedRecord(store, taken!, true, TERMS);
  }

  async function newCharge(captureMethod: CaptureMethod): Promise<Charge> {
    const key = randomUUID();
    const c = await claim(key);
    const charge = await service.createCharge(
      merchantId,
      {
        amount: '1000',
        currency: 'usd',
        paymentMethod: 'pm_card_visa',
        customerId: '',
        description: '',
        metadata: {},
        captureMethod,
      },
      c,
    );
    expect(await store.complete(c.fence, { code: 0, message: '', body: Buffer.alloc(0), trailers: [] }, c.completionWrites, 3600)).to.not.equal(undefined);
    return charge;
  }

  it('answers a resumed refund with the recorded refund, without a second refund or a second increase', async () => {
    const charge = await newCharge(CaptureMethod.CAPTURE_METHOD_AUTOMATIC);
    const key = randomUUID();
    const first = await claim(key);
    const answered = await service.refundCharge(merchantId, { chargeId: charge.id, amount: '400', reason: 0 }, first);
    const requests = sim.stats().requests;

    const again = await service.refundCharge(merchantId, { chargeId: charge.id, amount: '400', reason: 0 }, await resume(first, key));

    expect(sim.stats().requests, 'the resumed attempt went to the provider').to.equal(requests);
    expect(again.id).to.equal(answered.id);
    expect(again.providerReference).to.equal(answered.providerReference);
    expect(again.charge?.amountRefunded).to.equal('400');
    const [rows] = await pool.query<RowDataPacket[]>(
      'SELECT amount_refunded, (SELECT COUNT(*) FROM refunds WHERE charge_id = ?) AS n FROM charges WHERE id = ?',
      [charge.id, charge.id],
    );
    expect(String(rows[0]?.['amount_refunded'])).to.equal('400');
    expect(Number(rows[0]?.['n'])).to.equal(1);
  });

  for (const step of ['capture', 'cancel'] as const) {
    it(`answers a resumed ${step} with the stored charge instead of refusing it as no longer requires_capture`, async () => {
      const charge = await newCharge(CaptureMethod.CAPTURE_METHOD_MANUAL);
      const key = randomUUID();
      const first = await claim(key);
      const run = (c: ClaimedRecord) =>
        step === 'capture' ? service.captureCharge(merchantId, { chargeId: charge.id }, c) : service.cancelCharge(merchantId, { chargeId: charge.id }, c);
      const answered = await run(first);
      const requests = sim.stats().requests;

      const again = await run(await resume(first, key));

      expect(sim.stats().requests).to.equal(requests);
      expect(again).to.deep.equal(answered);
      expect(again.status).to.equal(step === 'capture' ? ChargeStatus.CHARGE_STATUS_SUCCEEDED : ChargeStatus.CHARGE_STATUS_CANCELED);
    });
  }
});
