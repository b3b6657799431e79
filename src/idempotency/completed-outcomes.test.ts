import { expect } from 'chai';
import { CompletedOutcomes, EXPIRY_MARGIN_MS, MAX_ENTRY_AGE_MS, MAX_KEPT_REQUEST_BYTES, MAX_KEPT_RESPONSE_BYTES, type Stamp } from './completed-outcomes.js';
import { type IdempotencyRecord, KeyState, RecoveryPoint } from './record.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A completed row as read `expiresInMs` before its expiry, a day after it was created. */
function completed(key: string, expiresInMs: number, scope = 'm1'): IdempotencyRecord {
  const dbNow = new Date('2026-01-02T00:00:00Z');
  const expiresAt = new Date(dbNow.getTime() + expiresInMs);
  return {
    id: '1',
    scope,
    key,
    method: '/payments.v1.PaymentService/CreateCharge',
    fingerprint: Buffer.alloc(32, 7),
    fingerprintVersion: 1,
    requestBody: Buffer.from('request'),
    state: KeyState.Completed,
    recoveryPoint: RecoveryPoint.Completed,
    attentionReason: null,
    lockedUntil: null,
    leaseVersion: 1,
    response: { code: 0, message: '', body: Buffer.from('response'), trailers: [] },
    createdAt: new Date(expiresAt.getTime() - DAY),
    expiresAt,
    dbNow,
  };
}

describe('completed outcomes kept in memory', () => {
  // Two fake clocks far apart, as the monotonic and the wall clock are.
  const clock = { mono: 0, wall: 0 };
  const clocks = { mono: (): number => clock.mono, wall: (): number => clock.wall };
  const advance = (ms: number): void => {
    clock.mono += ms;
    clock.wall += ms;
  };
  let outcomes: CompletedOutcomes;
  let sentAt: Stamp;
  beforeEach(() => {
    clock.mono = 1_000;
    clock.wall = Date.parse('2026-01-02T00:00:00Z');
    outcomes = new CompletedOutcomes(10, clocks);
    sentAt = outcomes.stamp();
  });

  it('keeps a completed outcome for at most its maximum age, counted from before the statement was sent', () => {
    advance(200); // the statement's round trip
    outcomes.remember(completed('k', DAY), sentAt);
    expect(outcomes.get('m1', 'k')?.response?.body?.toString()).to.equal('response');
    advance(MAX_ENTRY_AGE_MS - 201);
    expect(outcomes.get('m1', 'k')).to.not.equal(undefined);
    advance(1);
    expect(outcomes.get('m1', 'k')).to.equal(undefined);
    expect(outcomes.size).to.equal(0);
  });

  it('ends an entry the margin before the row expires as read with it, however old the row is', () => {
    // Created a day ago, 7 s left: kept for 2 s.
    outcomes.remember(completed('soon', EXPIRY_MARGIN_MS + 2_000), sentAt);
    advance(1_999);
    expect(outcomes.get('m1', 'soon')).to.not.equal(undefined);
    advance(1);
    expect(outcomes.get('m1', 'soon')).to.equal(undefined);
  });

  it('never keeps an outcome inside the margin or already lapsed, and a lapsed one evicts nothing', () => {
    const full = new CompletedOutcomes(1, clocks);
    const old = full.stamp();
    advance(MAX_ENTRY_AGE_MS);
    full.remember(completed('live', HOUR), full.stamp());
    full.remember(completed('inside', EXPIRY_MARGIN_MS), full.stamp());
    full.remember(completed('gone', -1), full.stamp());
    full.remember(completed('stale', HOUR), old); // its statement was sent a minute ago
    expect(['live', 'inside', 'gone', 'stale'].map((k) => full.get('m1', k) !== undefined)).to.deep.equal([true, false, false, false]);
  });

  it('ends an entry when the wall clock runs out first (a suspended host) and when the monotonic one does (a stepped wall clock)', () => {
    outcomes.remember(completed('suspended', HOUR), sentAt);
    outcomes.remember(completed('stepped', HOUR), sentAt);
    clock.wall += MAX_ENTRY_AGE_MS; // the monotonic clock stood still
    expect(outcomes.get('m1', 'suspended')).to.equal(undefined);
    clock.wall -= 2 * MAX_ENTRY_AGE_MS; // stepped back
    clock.mono += MAX_ENTRY_AGE_MS;
    expect(outcomes.get('m1', 'stepped')).to.equal(undefined);
  });

  it('keeps only completed rows with a stored response', () => {
    outcomes.remember({ ...completed('busy', HOUR), state: KeyState.InProgress, response: null }, sentAt);
    outcomes.remember({ ...completed('empty', HOUR), response: null }, sentAt);
    expect(outcomes.size).to.equal(0);
  });

  it('is keyed by scope: another merchant with the same key finds nothing', () => {
    outcomes.remember(completed('k', HOUR, 'm1'), sentAt);
    expect(outcomes.get('m2', 'k')).to.equal(undefined);
    expect(outcomes.get('m1', 'k')).to.not.equal(undefined);
  });

  it('evicts the oldest entry beyond its size, and keeps nothing with size 0', () => {
    const two = new CompletedOutcomes(2, clocks);
    for (const k of ['a', 'b', 'c']) two.remember(completed(k, HOUR), sentAt);
    expect(['a', 'b', 'c'].map((k) => two.get('m1', k) !== undefined)).to.deep.equal([false, true, true]);
    const off = new CompletedOutcomes(0, clocks);
    off.remember(completed('a', HOUR), sentAt);
    expect(off.get('m1', 'a')).to.equal(undefined);
  });

  it('leaves big outcomes to the database and keeps a big request by its fingerprint only', () => {
    const bigResponse = completed('big-response', HOUR);
    bigResponse.response!.body = Buffer.alloc(MAX_KEPT_RESPONSE_BYTES + 1);
    const bigRequest = completed('big-request', HOUR);
    bigRequest.requestBody = Buffer.alloc(MAX_KEPT_REQUEST_BYTES + 1);
    outcomes.remember(bigResponse, sentAt);
    outcomes.remember(bigRequest, sentAt);
    expect(outcomes.get('m1', 'big-response')).to.equal(undefined);
    const kept = outcomes.get('m1', 'big-request')!;
    expect(kept.requestBody).to.equal(null);
    expect(kept.fingerprint.equals(Buffer.alloc(32, 7))).to.equal(true);
  });

  it('holds its own copies, in one allocation of their exact size', () => {
    const record = completed('k', HOUR);
    outcomes.remember(record, sentAt);
    record.response!.body!.fill(0);
    record.requestBody!.fill(0);
    record.fingerprint.fill(0);
    const kept = outcomes.get('m1', 'k')!;
    expect(kept.response!.body!.toString()).to.equal('response');
    expect(kept.requestBody!.toString()).to.equal('request');
    expect(kept.fingerprint.equals(Buffer.alloc(32, 7))).to.equal(true);
    // Not a view into Node's shared 8 KB pool, which one entry would keep alive whole.
    expect(kept.fingerprint.buffer).to.equal(kept.response!.body!.buffer);
    expect(kept.fingerprint.buffer.byteLength).to.equal(32 + 'request'.length + 'response'.length);
  });
});
