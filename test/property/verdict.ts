import { isDeepStrictEqual } from 'node:util';
import { status as Code } from '@grpc/grpc-js';
import type { Pool } from '../../src/db/pool.js';
import { CaptureMethod, Charge, ChargeStatus, Refund, RefundStatus } from '../../src/gen/payments/v1/payments.js';
import { chargeToProto } from '../../src/payments/charge-mapper.js';
import { ChargeRepository } from '../../src/payments/charge-repository.js';
import type { ProviderSimulator } from '../../src/simulator/simulator.js';
import { chargeRowsOfKey, type KeyRow, keyRow, type ProviderCounts, refundRow } from './observed-state.js';
import type { PreparedCall } from './prepared-call.js';
import type { Answer } from './scenario-runner.js';

/** Codes of a refusal: the request was judged, nothing happened. */
const REFUSALS: readonly number[] = [Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.FAILED_PRECONDITION];

/** The provider's refund status for each answered one. */
const REFUND_STATES: Partial<Record<RefundStatus, string>> = {
  [RefundStatus.REFUND_STATUS_SUCCEEDED]: 'succeeded',
  [RefundStatus.REFUND_STATUS_PENDING]: 'pending',
  [RefundStatus.REFUND_STATUS_FAILED]: 'failed',
};

export interface Observation {
  provider: ProviderCounts;
  row: KeyRow | undefined;
  rows: number;
  /** The target's PaymentIntent at the provider (status and amounts), when there is a target. */
  targetIntent: string | undefined;
}

/** How the generated requests ended, for the run's summary. */
export interface Tally {
  requests: number;
  accepted: Record<string, number>;
  /** Refused before the provider, leaving no row behind. */
  refusedLeavingNothing: number;
  /** Refused before the provider, the refusal stored as a completed row (replayed to retries). */
  refusedStored: number;
  /** Refused by the provider (nothing created there), the refusal stored. */
  refusedByProvider: number;
  invalidKeys: number;
}

export function newTally(): Tally {
  return { requests: 0, accepted: {}, refusedLeavingNothing: 0, refusedStored: 0, refusedByProvider: 0, invalidKeys: 0 };
}

interface Context {
  pool: Pool;
  sim: ProviderSimulator;
  merchantId: string;
}

function fail(message: string): never {
  throw new Error(message);
}

function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) fail(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

function delta(before: Observation, after: Observation): ProviderCounts {
  return {
    requests: after.provider.requests - before.provider.requests,
    paymentIntents: after.provider.paymentIntents - before.provider.paymentIntents,
    refunds: after.provider.refunds - before.provider.refunds,
  };
}

/** The charge as stored, in the shape the API answers it. */
async function storedCharge(ctx: Context, id: string): Promise<Charge | undefined> {
  const record = await new ChargeRepository(ctx.pool).findCharge(ctx.merchantId, id);
  return record && Charge.fromPartial(chargeToProto(record));
}

async function checkRecorded(ctx: Context, call: PreparedCall, answer: Buffer, row: KeyRow | undefined, d: ProviderCounts): Promise<void> {
  if (row?.state !== 'completed' || row.responseCode !== Code.OK)
    fail(`idempotency row is ${JSON.stringify(row && { state: row.state, code: row.responseCode })}, expected completed OK`);
  if (!row.responseBody || Buffer.compare(row.responseBody, answer) !== 0) fail('stored response differs from the bytes answered');
  expectEqual('provider requests', d.requests, 1);
  const charge = call.rpc === 'RefundCharge' ? Refund.decode(answer).charge : Charge.decode(answer);
  if (!charge) return fail('refund answered without its charge');
  expectEqual('charge as stored', await storedCharge(ctx, charge.id), charge);
  const intent = ctx.sim.paymentIntents().find((pi) => pi.id === charge.providerReference);
  if (!intent) return fail(`no PaymentIntent ${charge.providerReference} at the provider`);

  switch (call.rpc) {
    case 'CreateCharge': {
      const req = call.create;
      if (!req) return fail('create without its request');
      expectEqual('PaymentIntents created', d.paymentIntents, 1);
      expectEqual('charge rows of this key', await chargeRowsOfKey(ctx.pool, row.id), 1);
      const manual = req.captureMethod === CaptureMethod.CAPTURE_METHOD_MANUAL;
      expectEqual(
        'answered request fields',
        [charge.amount, charge.currency, charge.customerId, charge.description, charge.metadata, charge.captureMethod],
        [
          BigInt(req.amount).toString(),
          req.currency.trim().toLowerCase(),
          req.customerId,
          req.description,
          req.metadata,
          manual ? CaptureMethod.CAPTURE_METHOD_MANUAL : CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
        ],
      );
      expectEqual(
        'PaymentIntent',
        [intent.amount, intent.currency, intent.customer, intent.description, intent.capture_method],
        [
          Number(charge.amount),
          charge.currency,
          req.customerId === '' ? null : req.customerId,
          req.description === '' ? null : req.description,
          manual ? 'manual' : 'automatic',
        ],
      );
      // The service may add its own reference to the provider's metadata; every entry sent must be there unchanged.
      for (const [k, v] of Object.entries(req.metadata)) expectEqual(`PaymentIntent metadata[${JSON.stringify(k)}]`, intent.metadata[k], v);
      return;
    }
    case 'CaptureCharge':
      expectEqual('objects created at the provider', [d.paymentIntents, d.refunds], [0, 0]);
      expectEqual('captured charge', [charge.status, charge.amountCaptured], [ChargeStatus.CHARGE_STATUS_SUCCEEDED, call.amount ?? call.target?.amount]);
      expectEqual('PaymentIntent after capture', [intent.status, intent.amount_received], ['succeeded', Number(charge.amountCaptured)]);
      return;
    case 'CancelCharge':
      expectEqual('objects created at the provider', [d.paymentIntents, d.refunds], [0, 0]);
      expectEqual('canceled charge', [charge.status, intent.status], [ChargeStatus.CHARGE_STATUS_CANCELED, 'canceled']);
      return;
    case 'RefundCharge': {
      const refund = Refund.decode(answer);
      expectEqual('objects created at the provider', [d.paymentIntents, d.refunds], [0, 1]);
      const target = call.target;
      const refundable = target ? BigInt(target.amountCaptured) - BigInt(target.amountRefunded) : 0n;
      expectEqual('refunded amount', refund.amount, call.amount ?? refundable.toString());
      const atProvider = ctx.sim.refunds().at(-1);
      expectEqual(
        'provider refund',
        [atProvider?.amount, atProvider?.payment_intent, atProvider?.status],
        [Number(refund.amount), intent.id, REFUND_STATES[refund.status]],
      );
      const stored = await refundRow(ctx.pool, ctx.merchantId, refund.id);
      expectEqual('refund as stored', stored && [stored.charge_id, stored.amount, stored.currency, stored.provider_reference, stored.idempotency_key_id], [
        refund.chargeId,
        refund.amount,
        refund.currency,
        refund.providerReference,
        row.id,
      ]);
      // A failed refund is recorded but returns nothing; a pending one already counts (as at Stripe).
      const counted = refund.status === RefundStatus.REFUND_STATUS_FAILED ? 0n : BigInt(refund.amount);
      expectEqual('charge amount refunded', charge.amountRefunded, (BigInt(target?.amountRefunded ?? '0') + counted).toString());
      return;
    }
  }
}

/**
 * The property for one answered request: it was refused with nothing charged and nothing left
 * behind but (at most) its stored refusal, or it was carried out exactly once at the provider and
 * recorded as answered. Anything else (UNAVAILABLE, INTERNAL, ...) is a violation while the
 * database and the provider are up. Retries are checked by the caller.
 */
export async function checkAnswer(ctx: Context, call: PreparedCall, answer: Answer, before: Observation, after: Observation, tally: Tally): Promise<void> {
  const d = delta(before, after);
  if (answer.code === Code.OK) {
    if (call.expectation === 'refuse') fail(`accepted a request the contract refuses`);
    if (!answer.bytes) return fail('OK without a response message');
    tally.accepted[call.rpc] = (tally.accepted[call.rpc] ?? 0) + 1;
    if (before.row?.state === 'completed') {
      // A reused key with the very same request: a replay of the earlier outcome.
      expectEqual('provider requests of a replay', d.requests, 0);
      if (!before.row.responseBody || Buffer.compare(before.row.responseBody, answer.bytes) !== 0) fail('replay differs from the stored response');
      return;
    }
    await checkRecorded(ctx, call, answer.bytes, after.row, d);
    return;
  }
  if (answer.code === undefined || !REFUSALS.includes(answer.code)) {
    const row = call.key === undefined ? undefined : await keyRow(ctx.pool, ctx.merchantId, call.key);
    fail(
      `answered ${answer.code === undefined ? 'no status' : Code[answer.code]} "${answer.details}" while the database and the provider are up ` +
        `(provider: +${d.requests} requests, +${d.paymentIntents} PaymentIntents, +${d.refunds} refunds; key row ${row ? row.state : 'absent'})`,
    );
  }
  if (call.expectation === 'accept') fail(`refused a request the contract accepts: ${Code[answer.code]} "${answer.details}"`);
  expectEqual('objects created at the provider by a refused request', [d.paymentIntents, d.refunds], [0, 0]);
  expectEqual("target's PaymentIntent after a refusal", after.targetIntent, before.targetIntent);
  if (call.key === undefined) {
    expectEqual('code for an invalid idempotency key', Code[answer.code], 'INVALID_ARGUMENT');
    expectEqual('provider requests and new rows after an invalid key', [d.requests, after.rows - before.rows], [0, 0]);
    tally.invalidKeys += 1;
    return;
  }
  if (d.requests === 0 && isDeepStrictEqual(after.row, before.row)) {
    tally.refusedLeavingNothing += 1;
    return;
  }
  if (after.row?.state !== 'completed' || after.row.responseCode !== answer.code || before.row !== undefined) {
    fail(
      `refusal left the key row ${JSON.stringify(after.row && { state: after.row.state, code: after.row.responseCode })} (before: ${before.row?.state ?? 'absent'})`,
    );
  }
  if (d.requests === 0) tally.refusedStored += 1;
  else tally.refusedByProvider += 1;
}
