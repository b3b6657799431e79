import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { type CheckResult, check } from '../scripts/chaos/checker.js';
import type { ChargeRow, DatabaseSnapshot, KeyRow } from '../scripts/chaos/database-snapshot.js';
import { type FinalAnswer, MARKER_KEY, type PaymentRecord, planPayments } from '../scripts/chaos/workload.js';
import { ChargeStatus } from '../src/gen/payments/v1/payments.js';
import type { PaymentIntent, PaymentIntentStatus } from '../src/provider/provider-types.js';

/** One consistent payment: a PaymentIntent, a completed key row with its charge row, one OK answer. */
interface World {
  records: PaymentRecord[];
  intents: PaymentIntent[];
  db: DatabaseSnapshot;
}

function intent(id: string, marker: string, amount: number, status: PaymentIntentStatus = 'succeeded'): PaymentIntent {
  return {
    id,
    object: 'payment_intent',
    amount,
    amount_capturable: 0,
    amount_received: status === 'succeeded' ? amount : 0,
    currency: 'usd',
    status,
    capture_method: 'automatic',
    payment_method: 'pm_card_visa',
    customer: null,
    description: null,
    metadata: { [MARKER_KEY]: marker },
    created: 0,
  };
}

function okAnswer(chargeId: string, amount: string, providerReference: string, source: FinalAnswer['source'] = 'tap'): FinalAnswer {
  return { code: grpc.status.OK, charge: { id: chargeId, status: ChargeStatus.CHARGE_STATUS_SUCCEEDED, amount, providerReference }, replayed: false, source };
}

function consistentWorld(payments: number): World {
  const plans = planPayments(1, payments, 2, 1_000);
  const records: PaymentRecord[] = [];
  const intents: PaymentIntent[] = [];
  const keys: KeyRow[] = [];
  const charges: ChargeRow[] = [];
  for (const plan of plans) {
    const amount = plan.request.amount;
    const piId = `pi_${plan.index}`;
    const chargeId = `ch_${plan.index}`;
    const keyId = String(plan.index + 1);
    intents.push(intent(piId, plan.marker, Number(amount)));
    keys.push({ id: keyId, key: plan.key, state: 'completed', recoveryPoint: 'completed', responseCode: grpc.status.OK });
    charges.push({ id: chargeId, status: 'succeeded', amount, providerReference: piId, idempotencyKeyId: keyId, marker: plan.marker });
    records.push({ plan, finals: [okAnswer(chargeId, amount, piId)], gaveUp: [], attempts: 1 });
  }
  return { records, intents, db: { keys, charges } };
}

function figure(result: CheckResult, name: string): number {
  const found = result.figures.find((f) => f.name === name);
  if (!found) throw new Error(`no figure ${name}`);
  return found.value;
}

function run(world: World): CheckResult {
  return check(world.records, world.intents, world.db);
}

function first<T>(items: T[]): T {
  const item = items[0];
  if (item === undefined) throw new Error('empty');
  return item;
}

describe('chaos checker', () => {
  it('passes with every figure at 0 when provider, database and answers agree', () => {
    const result = run(consistentWorld(10));
    expect(result.figures.map((f) => [f.name, f.value])).to.deep.equal([
      ['duplicates', 0],
      ['lost', 0],
      ['split answers', 0],
      ['mismatched records', 0],
      ['orphans', 0],
      ['stuck', 0],
      ['unfinished', 0],
    ]);
    expect(result.passed).to.equal(true);
  });

  it('counts a payment with a second PaymentIntent at the provider as a duplicate and fails', () => {
    const world = consistentWorld(10);
    const record = first(world.records);
    world.intents.push(intent('pi_again', record.plan.marker, Number(record.plan.request.amount)));
    const result = run(world);
    expect(figure(result, 'duplicates')).to.equal(1);
    expect(result.passed).to.equal(false);
  });

  it('counts a charged PaymentIntent without a charge row as lost, but not a declined one', () => {
    const world = consistentWorld(10);
    world.db.charges = world.db.charges.slice(2);
    world.db.keys[1] = { ...first(world.db.keys.slice(1)), state: 'completed', responseCode: grpc.status.UNAVAILABLE };
    world.intents[1] = { ...first(world.intents.slice(1)), status: 'requires_payment_method' };
    const result = run(world);
    expect(figure(result, 'lost')).to.equal(1);
    expect(result.passed).to.equal(false);
  });

  it('counts two different OK answers for one key as a split answer', () => {
    const world = consistentWorld(10);
    const record = first(world.records);
    record.finals.push(okAnswer('ch_other', record.plan.request.amount, 'pi_0', 'verify'));
    const result = run(world);
    expect(figure(result, 'split answers')).to.equal(1);
    expect(result.passed).to.equal(false);
  });

  it('counts an OK answer naming another charge than the record as a split answer', () => {
    const world = consistentWorld(10);
    const record = first(world.records);
    record.finals = [okAnswer('ch_unknown', record.plan.request.amount, 'pi_0')];
    expect(figure(run(world), 'split answers')).to.equal(1);
  });

  it('counts a charge row recorded as failed while the provider took the money as mismatched', () => {
    const world = consistentWorld(10);
    world.db.charges[0] = { ...first(world.db.charges), status: 'failed' };
    expect(figure(run(world), 'mismatched records')).to.equal(1);
  });

  it('counts a charge row without a PaymentIntent and a key completed OK without a charge as orphans', () => {
    const world = consistentWorld(10);
    world.db.charges.push({ id: 'ch_ghost', status: 'succeeded', amount: '100', providerReference: 'pi_ghost', idempotencyKeyId: null, marker: undefined });
    world.db.keys.push({ id: '999', key: 'key-unrelated', state: 'completed', recoveryPoint: 'completed', responseCode: grpc.status.OK });
    expect(figure(run(world), 'orphans')).to.equal(2);
  });

  it('counts in-progress rows as stuck, and reports other states as needing attention without counting them stuck', () => {
    const world = consistentWorld(10);
    world.db.keys.push({ id: '998', key: 'key-a', state: 'in_progress', recoveryPoint: 'provider_requested', responseCode: null });
    world.db.keys.push({ id: '999', key: 'key-b', state: 'needs_attention', recoveryPoint: 'charge_recorded', responseCode: null });
    const result = run(world);
    expect(figure(result, 'stuck')).to.equal(1);
    expect(result.notes.join('\n')).to.contain('needs attention (any state other than in_progress/completed): 1 (needs_attention 1');
  });

  it('allows unfinished payments up to 1 % and fails above it', () => {
    const world = consistentWorld(200);
    for (const record of world.records.slice(0, 2)) record.gaveUp.push(grpc.status.UNAVAILABLE);
    const within = run(world);
    expect(figure(within, 'unfinished')).to.equal(2);
    expect(within.passed).to.equal(true);
    first(world.records.slice(2)).gaveUp.push(grpc.status.DEADLINE_EXCEEDED);
    expect(run(world).passed).to.equal(false);
  });
});
