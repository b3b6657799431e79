import { expect } from 'chai';
import { CompletedOutcomes, EXPIRY_MARGIN_MS, MAX_ENTRY_AGE_MS } from './completed-outcomes.js';
import { KeyState, RecoveryPoint, type IdempotencyRecord } from './record.js';

const HOUR = 3_600_000;

function completed(key: string, expiresInMs: number, scope = 'm1'): IdempotencyRecord {
  const dbNow = new Date('2026-01-01T00:00:00Z');
  return {
    id: '1', scope, key, method: '/payments.v1.PaymentService/CreateCharge',
    fingerprint: Buffer.alloc(32, 7), fingerprintVersion: 1, requestBody: Buffer.from('request'),
    state: KeyState.Completed, recoveryPoint: RecoveryPoint.Completed, lockedUntil: null, leaseVersion: 1,
    response: { code: 0, message: '', body: Buffer.from('response'), trailers: [] },
    createdAt: dbNow, expiresAt: new Date(dbNow.getTime() + expiresInMs), dbNow,
  };
}

describe('completed outcomes kept in memory', () => {
  let clock = 0;
  const now = (): number => clock;
  beforeEach(() => {
    clock = 1_000;
  });

  it('keeps a completed outcome for at most its maximum age, counted from before the read was sent', () => {
    const outcomes = new CompletedOutcomes(10, now);
    const readSentAt = clock;
    clock += 200; // the read's round trip
    outcomes.remember(completed('k', 24 * HOUR), readSentAt);
    expect(outcomes.get('m1', 'k')?.response?.body?.toString()).to.equal('response');
    clock = readSentAt + MAX_ENTRY_AGE_MS - 1;
    expect(outcomes.get('m1', 'k')).to.not.equal(undefined);
    clock = readSentAt + MAX_ENTRY_AGE_MS;
    expect(outcomes.get('m1', 'k')).to.equal(undefined);
    expect(outcomes.size).to.equal(0);
  });

  it('ends an entry the margin before the row expires by the database clock, and never keeps one inside the margin', () => {
    const outcomes = new CompletedOutcomes(10, now);
    const readSentAt = clock;
    outcomes.remember(completed('soon', EXPIRY_MARGIN_MS + 2_000), readSentAt);
    clock = readSentAt + 1_999;
    expect(outcomes.get('m1', 'soon')).to.not.equal(undefined);
    clock = readSentAt + 2_000;
    expect(outcomes.get('m1', 'soon')).to.equal(undefined);

    outcomes.remember(completed('inside', EXPIRY_MARGIN_MS), clock);
    outcomes.remember(completed('gone', -1), clock);
    expect(outcomes.get('m1', 'inside')).to.equal(undefined);
    expect(outcomes.get('m1', 'gone')).to.equal(undefined);
  });

  it('keeps only completed rows with a stored response', () => {
    const outcomes = new CompletedOutcomes(10, now);
    outcomes.remember({ ...completed('busy', HOUR), state: KeyState.InProgress, response: null }, clock);
    outcomes.remember({ ...completed('empty', HOUR), response: null }, clock);
    expect(outcomes.size).to.equal(0);
  });

  it('is keyed by scope: another merchant with the same key finds nothing', () => {
    const outcomes = new CompletedOutcomes(10, now);
    outcomes.remember(completed('k', HOUR, 'm1'), clock);
    expect(outcomes.get('m2', 'k')).to.equal(undefined);
    expect(outcomes.get('m1', 'k')).to.not.equal(undefined);
  });

  it('evicts the oldest entry beyond its size, and keeps nothing with size 0', () => {
    const outcomes = new CompletedOutcomes(2, now);
    for (const k of ['a', 'b', 'c']) outcomes.remember(completed(k, HOUR), clock);
    expect(['a', 'b', 'c'].map((k) => outcomes.get('m1', k) !== undefined)).to.deep.equal([false, true, true]);
    const off = new CompletedOutcomes(0, now);
    off.remember(completed('a', HOUR), clock);
    expect(off.get('m1', 'a')).to.equal(undefined);
  });

  it('holds its own copies of the driver buffers', () => {
    const outcomes = new CompletedOutcomes(10, now);
    const record = completed('k', HOUR);
    outcomes.remember(record, clock);
    record.response!.body!.fill(0);
    record.requestBody!.fill(0);
    record.fingerprint.fill(0);
    const kept = outcomes.get('m1', 'k')!;
    expect(kept.response!.body!.toString()).to.equal('response');
    expect(kept.requestBody!.toString()).to.equal('request');
    expect(kept.fingerprint.equals(Buffer.alloc(32, 7))).to.equal(true);
  });
});
