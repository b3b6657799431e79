/**
 * Compares the three sources of a chaos run: the provider's ledger (the money),
 * the database (the record) and every final answer the clients received. Pure:
 * the inputs are collected after recovery, the figures computed here.
 */
import * as grpc from '@grpc/grpc-js';
import { ChargeStatus } from '../../src/gen/payments/v1/payments.js';
import type { PaymentIntent } from '../../src/provider/provider-types.js';
import type { ChargeRow, DatabaseSnapshot, KeyRow } from './database-snapshot.js';
import { type FinalAnswer, MARKER_KEY, PAYMENT_DEADLINE_MS, type PaymentRecord } from './workload.js';

/** Unfinished payments allowed, as a share of all payments (see docs/chaos.md for why any are allowed). */
export const UNFINISHED_LIMIT_SHARE = 0.01;
/** Examples quoted per failing figure: enough to start an investigation, short enough to read. */
const EVIDENCE_PER_FIGURE = 5;

export interface Figure {
  name: string;
  value: number;
  /** For a must-be-zero figure 0; for unfinished the documented limit. */
  limit: number;
  explanation: string;
  /** Details per example (ids, states, codes; never customer data). */
  evidence: string[];
}

export interface CheckResult {
  figures: Figure[];
  /** Informative lines (not pass/fail). */
  notes: string[];
  passed: boolean;
}

const CHARGED = new Set(['succeeded', 'requires_capture']);
/** The provider state each recorded charge state must match, for charges that were only created. */
const PROVIDER_STATE_OF: Record<string, string> = { succeeded: 'succeeded', requires_capture: 'requires_capture', failed: 'requires_payment_method' };

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string | undefined): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    if (key === undefined) continue;
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function codeName(code: number): string {
  return grpc.status[code] ?? String(code);
}

function signature(answer: FinalAnswer): string {
  if (answer.code !== grpc.status.OK || !answer.charge) return codeName(answer.code);
  return `OK ${answer.charge.id} ${ChargeStatus[answer.charge.status] ?? answer.charge.status} ${answer.charge.amount}`;
}

function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([v, n]) => `${v} ${n}`).join(', ') || 'none';
}

function describeKey(row: KeyRow | undefined): string {
  return row ? `key row ${row.id} ${row.state}/${row.recoveryPoint} code ${row.responseCode ?? '-'}` : 'no key row';
}

/** Verification answers that were not replays, among abandoned payments without an earlier answer or among the others. */
function fresh(records: readonly PaymentRecord[], abandonedWithoutAnswer: boolean): number {
  return records.filter((r) => {
    const answeredBefore = r.finals.some((a) => a.source !== 'verify');
    return answeredBefore !== abandonedWithoutAnswer && r.finals.some((a) => a.source === 'verify' && !a.replayed);
  }).length;
}

export function check(records: readonly PaymentRecord[], intents: readonly PaymentIntent[], db: DatabaseSnapshot): CheckResult {
  const intentsByMarker = groupBy(intents, (pi) => pi.metadata[MARKER_KEY]);
  const intentIds = new Set(intents.map((pi) => pi.id));
  const chargesByReference = groupBy(db.charges, (c) => c.providerReference);
  const chargeByKeyId = new Map<string, ChargeRow>();
  for (const charge of db.charges) if (charge.idempotencyKeyId !== null) chargeByKeyId.set(charge.idempotencyKeyId, charge);
  const keyByName = new Map(db.keys.map((k) => [k.key, k]));

  const duplicates: string[] = [];
  const lost: string[] = [];
  const split: string[] = [];
  const mismatched: string[] = [];
  const unfinished: string[] = [];
  const unfinishedReasons: string[] = [];

  for (const record of records) {
    const { plan } = record;
    const mine = intentsByMarker.get(plan.marker) ?? [];
    const keyRow = keyByName.get(plan.key);
    const charge = keyRow ? chargeByKeyId.get(keyRow.id) : undefined;
    const where = `payment ${plan.index} (${describeKey(keyRow)}, charge ${charge?.id ?? 'none'})`;
    if (mine.length > 1) duplicates.push(`${where}: ${mine.length} PaymentIntents ${mine.map((pi) => `${pi.id}/${pi.status}`).join(' ')}`);
    const unrecorded = mine.filter((pi) => CHARGED.has(pi.status) && !chargesByReference.has(pi.id));
    if (unrecorded.length > 0) lost.push(`${where}: charged ${unrecorded.map((pi) => `${pi.id}/${pi.status}`).join(' ')} without a charge row`);

    const signatures = [...new Set(record.finals.map(signature))];
    const disagreements: string[] = [];
    if (signatures.length > 1) disagreements.push(`answers differ: ${record.finals.map((a) => `${a.source}: ${signature(a)}`).join('; ')}`);
    for (const answer of record.finals) {
      if (answer.code !== grpc.status.OK || !answer.charge) continue;
      if (answer.charge.amount !== plan.request.amount)
        disagreements.push(`${answer.source} answered amount ${answer.charge.amount}, asked ${plan.request.amount}`);
      if (charge === undefined || answer.charge.id !== charge.id)
        disagreements.push(`${answer.source} answered ${answer.charge.id}, the record is ${charge?.id ?? 'missing'}`);
      if (!mine.some((pi) => pi.id === answer.charge?.providerReference))
        disagreements.push(`${answer.source} answered provider reference ${answer.charge.providerReference}, not one of this payment's PaymentIntents`);
    }
    if (disagreements.length > 0) split.push(`${where}: ${[...new Set(disagreements)].join('; ')}`);

    if (charge !== undefined) {
      const intent = mine.find((pi) => pi.id === charge.providerReference);
      const expected = PROVIDER_STATE_OF[charge.status];
      if (intent === undefined || intent.status !== expected || String(intent.amount) !== charge.amount) {
        mismatched.push(
          `${where}: recorded ${charge.status} ${charge.amount}, provider ${intent ? `${intent.status} ${intent.amount}` : 'has no such PaymentIntent'}`,
        );
      }
    }

    if (record.gaveUp.length > 0) {
      const reason = `last code ${record.gaveUp.map(codeName).join('/')}`;
      unfinishedReasons.push(reason);
      unfinished.push(`${where}: ${reason}; ${mine.length} PaymentIntent(s), ${record.attempts} attempts`);
    }
  }

  const orphans: string[] = [];
  for (const charge of db.charges) {
    if (!intentIds.has(charge.providerReference))
      orphans.push(
        `charge ${charge.id} (key row ${charge.idempotencyKeyId ?? 'none'}): provider has no PaymentIntent ${charge.providerReference || '(empty)'}`,
      );
  }
  for (const key of db.keys) {
    if (key.state === 'completed' && key.responseCode === grpc.status.OK && !chargeByKeyId.has(key.id))
      orphans.push(`${describeKey(key)}: completed OK without a charge row`);
  }
  const stuck = db.keys.filter((k) => k.state === 'in_progress').map((k) => describeKey(k));
  const parked = db.keys.filter((k) => k.state !== 'in_progress' && k.state !== 'completed');

  const unfinishedLimit = Math.floor(records.length * UNFINISHED_LIMIT_SHARE);
  const figures: Figure[] = [
    {
      name: 'duplicates',
      value: duplicates.length,
      limit: 0,
      explanation: 'payments with more than one PaymentIntent at the provider (by metadata marker)',
      evidence: duplicates,
    },
    {
      name: 'lost',
      value: lost.length,
      limit: 0,
      explanation: 'payments charged at the provider (succeeded/requires_capture) with no charge row',
      evidence: lost,
    },
    {
      name: 'split answers',
      value: split.length,
      limit: 0,
      explanation: 'payments whose final answers differ, or an OK answer differs from the record or the provider',
      evidence: split,
    },
    {
      name: 'mismatched records',
      value: mismatched.length,
      limit: 0,
      explanation: "charge rows whose status or amount is not the provider's",
      evidence: mismatched,
    },
    {
      name: 'orphans',
      value: orphans.length,
      limit: 0,
      explanation: 'charge rows without a PaymentIntent, or keys completed OK without a charge row',
      evidence: orphans,
    },
    { name: 'stuck', value: stuck.length, limit: 0, explanation: 'idempotency rows still in_progress after recovery', evidence: stuck },
    {
      name: 'unfinished',
      value: unfinished.length,
      limit: unfinishedLimit,
      explanation: `payments whose client got no final answer within ${PAYMENT_DEADLINE_MS / 1000} s (allowed: at most ${UNFINISHED_LIMIT_SHARE * 100} %); why: ${tally(unfinishedReasons)}`,
      evidence: unfinished,
    },
  ];
  for (const figure of figures) figure.evidence = figure.evidence.slice(0, EVIDENCE_PER_FIGURE);

  const finals = records.flatMap((r) => r.finals);
  const abandoned = records.filter((r) => r.plan.abandons);
  const abandonedOpen = abandoned.filter((r) => !r.finals.some((a) => a.source !== 'verify'));
  const notes = [
    `abandoned by their client after one call (by design, not unfinished): ${abandoned.length}, of them without a final answer: ${abandonedOpen.length} (left to the background completer)`,
    `needs attention (any state other than in_progress/completed): ${parked.length}${
      parked.length > 0
        ? ` (${tally(parked.map((k) => k.state))}; e.g. ${parked
            .slice(0, EVIDENCE_PER_FIGURE)
            .map((k) => `key row ${k.id}/${k.recoveryPoint}`)
            .join(', ')})`
        : ''
    }`,
    `final answers: ${tally(finals.map((a) => (a.code === grpc.status.OK && a.charge ? `OK ${ChargeStatus[a.charge.status] ?? a.charge.status}` : codeName(a.code))))}`,
    `verification calls after recovery: ${finals.filter((a) => a.source === 'verify').length} answered; not marked idempotent-replayed: ` +
      `${fresh(records, false)} of payments answered before (should be 0), ${fresh(records, true)} of abandoned ones (their key was released: charged now); ` +
      `gave up: ${records.filter((r) => r.verifyGaveUp !== undefined).length}`,
    `provider: ${intents.length} PaymentIntents (${tally(intents.map((pi) => pi.status))}); database: ${db.charges.length} charges, ${db.keys.length} idempotency rows (${tally(db.keys.map((k) => k.state))})`,
  ];
  const passed = figures.every((f) => f.value <= f.limit);
  return { figures, notes, passed };
}
