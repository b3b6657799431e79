import { expect } from 'chai';
import { type ClaimRequest, decide } from './decision.js';
import { type IdempotencyRecord, KeyState, RecoveryPoint } from './record.js';

const NOW = new Date('2026-01-01T12:00:00.000Z');
const FP = Buffer.alloc(32, 1);

function record(overrides: Partial<IdempotencyRecord> = {}): IdempotencyRecord {
  return {
    id: '1',
    scope: 'mer_a',
    key: 'k',
    method: '/payments.v1.PaymentService/CreateCharge',
    fingerprint: FP,
    fingerprintVersion: 1,
    requestBody: null,
    state: KeyState.Completed,
    recoveryPoint: RecoveryPoint.Completed,
    attentionReason: null,
    lockedUntil: null,
    leaseVersion: 1,
    response: { code: 0, message: '', body: Buffer.from([1]), trailers: [] },
    createdAt: new Date(NOW.getTime() - 1000),
    expiresAt: new Date(NOW.getTime() + 86_400_000),
    dbNow: NOW,
    ...overrides,
  };
}
/** A request whose payload matches records holding `fingerprint` (CanonicalRequest does this for real; see its tests). */
function requestWith(fingerprint: Buffer, method = '/payments.v1.PaymentService/CreateCharge'): ClaimRequest {
  return { method, samePayloadAs: (r) => r.fingerprint.equals(fingerprint) };
}
const request = requestWith(FP);

describe('decide (pure replay-or-refuse decision)', () => {
  it('replays a completed record with the same method and fingerprint', () => {
    expect(decide(record(), request)).to.deep.equal({ kind: 'replay' });
  });
  it('refuses a different payload', () => {
    expect(decide(record(), requestWith(Buffer.alloc(32, 2)))).to.deep.equal({ kind: 'mismatch', what: 'payload' });
  });
  it('refuses the same key on another method, even with an equal fingerprint', () => {
    expect(decide(record(), requestWith(FP, '/payments.v1.PaymentService/CaptureCharge'))).to.deep.equal({ kind: 'mismatch', what: 'method' });
  });
  it('refuses a mismatch even while the first request is still in flight', () => {
    const inFlight = record({ state: KeyState.InProgress, response: null, lockedUntil: new Date(NOW.getTime() + 5000) });
    expect(decide(inFlight, requestWith(Buffer.alloc(32, 3))).kind).to.equal('mismatch');
  });
  it('waits for an in-progress record whose lease is live, reporting the time left by the database clock', () => {
    const inFlight = record({ state: KeyState.InProgress, response: null, lockedUntil: new Date(NOW.getTime() + 2500) });
    expect(decide(inFlight, request)).to.deep.equal({ kind: 'wait', leaseRemainingMs: 2500 });
  });
  it('takes over an in-progress record whose lease has expired (exactly at the boundary too)', () => {
    expect(decide(record({ state: KeyState.InProgress, response: null, lockedUntil: NOW }), request)).to.deep.equal({ kind: 'take_over' });
    expect(decide(record({ state: KeyState.InProgress, response: null, lockedUntil: new Date(NOW.getTime() - 1) }), request).kind).to.equal('take_over');
  });
  it('treats a completed record past its expiry as absent, whatever its payload', () => {
    const expired = record({ expiresAt: new Date(NOW.getTime() - 1) });
    expect(decide(expired, request)).to.deep.equal({ kind: 'expired' });
    expect(decide(expired, requestWith(Buffer.alloc(32, 9)))).to.deep.equal({ kind: 'expired' });
  });
  it('never expires an in-progress record: it is resumed, not forgotten', () => {
    const stale = record({ state: KeyState.InProgress, response: null, lockedUntil: new Date(NOW.getTime() - 10), expiresAt: new Date(NOW.getTime() - 1) });
    expect(decide(stale, request).kind).to.equal('take_over');
  });
});
