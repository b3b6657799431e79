import * as grpc from '@grpc/grpc-js';
import {
  CancelChargeRequest,
  CaptureChargeRequest,
  type Charge,
  ChargeStatus,
  CreateChargeRequest,
  RefundChargeRequest,
} from '../../src/gen/payments/v1/payments.js';
import { type Expectation, expectCancel, expectCapture, expectCreate, expectRefund } from './expectations.js';
import { createChargeRequest } from './generators/create-charge.js';
import { resolveAmount } from './generators/follow-ups.js';
import { isValidKind, type KeySpec } from './generators/idempotency-key.js';
import type { Step } from './generators/scenario.js';

const SERVICE = '/payments.v1.PaymentService';

/** What a scenario knows while it runs: its merchant, its charges as last answered, the keys it used. */
export interface ScenarioState {
  apiKey: string;
  merchantId: string;
  charges: Charge[];
  /** Valid keys in the order of their steps (for `reuse`). */
  keys: string[];
  /** A charge of another merchant, for cross-merchant attempts. */
  foreignChargeId: string | undefined;
}

/** A step turned into bytes and headers, with what the contract expects of it. */
export interface PreparedCall {
  rpc: Step['rpc'];
  path: string;
  body: Uint8Array;
  /** Headers for grpc-js, or for bare HTTP/2 when the key is one grpc-js will not send. */
  headers: { kind: 'grpc'; md: grpc.Metadata } | { kind: 'http2'; values: Record<string, string> };
  /** The key to find this call's idempotency row by (undefined when the key is not valid). */
  key: string | undefined;
  keyKind: KeySpec['kind'];
  expectation: Expectation;
  /** The charge the call acts on, as the scenario last saw it. */
  target: Charge | undefined;
  /** The amount sent (after resolving a relative amount). */
  amount: string | undefined;
  create: CreateChargeRequest | undefined;
}

function keyHeaders(spec: KeySpec, stepIndex: number, state: ScenarioState): { md: Record<string, string[]>; key: string | undefined; raw?: string } {
  switch (spec.kind) {
    case 'valid': {
      const key = spec.text.unique(stepIndex);
      return { md: { 'idempotency-key': [key] }, key };
    }
    case 'reuse': {
      const key = state.keys.length > 0 ? state.keys[spec.step % state.keys.length] : `reuse-${stepIndex}`;
      return { md: { 'idempotency-key': [key ?? ''] }, key };
    }
    case 'missing':
      return { md: {}, key: undefined };
    case 'empty':
      return { md: { 'idempotency-key': [''] }, key: undefined };
    case 'tooLong':
      return { md: { 'idempotency-key': [spec.text.value] }, key: undefined };
    case 'comma':
      return { md: { 'idempotency-key': [`a,b${stepIndex}`] }, key: undefined };
    case 'twice':
      return { md: { 'idempotency-key': [`first-${stepIndex}`, `second-${stepIndex}`] }, key: undefined };
    case 'nonPrintable':
      return { md: {}, key: undefined, raw: spec.value };
  }
}

/** Charge states each operation acts on (anything else is refused). */
const ELIGIBLE: Record<Exclude<Step['rpc'], 'CreateCharge'>, readonly ChargeStatus[]> = {
  CaptureCharge: [ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE],
  CancelCharge: [ChargeStatus.CHARGE_STATUS_REQUIRES_CAPTURE],
  RefundCharge: [ChargeStatus.CHARGE_STATUS_SUCCEEDED, ChargeStatus.CHARGE_STATUS_PARTIALLY_REFUNDED],
};

function targetOf(step: Exclude<Step, { rpc: 'CreateCharge' }>, state: ScenarioState): { id: string; charge: Charge | undefined } {
  const t = step.target;
  if (t.kind === 'created' || t.kind === 'eligible') {
    const eligible = state.charges.filter((c) => ELIGIBLE[step.rpc].includes(c.status));
    const pool = t.kind === 'eligible' && eligible.length > 0 ? eligible : state.charges;
    const charge = pool[t.index % Math.max(1, pool.length)];
    return charge ? { id: charge.id, charge } : { id: 'ch_nothingcreatedyet', charge: undefined };
  }
  if (t.kind === 'otherMerchant') return { id: state.foreignChargeId ?? 'ch_noforeigncharge', charge: undefined };
  return { id: t.id, charge: state.charges.find((c) => c.id === t.id) };
}

export function prepare(step: Step, stepIndex: number, state: ScenarioState): PreparedCall {
  const k = keyHeaders(step.key, stepIndex, state);
  const auth = `Bearer ${state.apiKey}`;
  const headers: PreparedCall['headers'] =
    k.raw !== undefined
      ? { kind: 'http2', values: { authorization: auth, 'idempotency-key': k.raw } }
      : { kind: 'grpc', md: metadataOf({ authorization: [auth], ...k.md }) };
  // HTTP/2 forbids a field value that starts or ends with whitespace (RFC 9113 8.2.1), so such a
  // key never reaches the service: refusing it is as right as accepting it.
  const padded = k.key !== undefined && k.key.trim() !== k.key;
  const keyExpectation: Expectation | undefined = !isValidKind(step.key) ? 'refuse' : step.key.kind === 'reuse' || padded ? 'either' : undefined;
  const common = { rpc: step.rpc, path: `${SERVICE}/${step.rpc}`, headers, key: k.key, keyKind: step.key.kind };

  if (step.rpc === 'CreateCharge') {
    const create = createChargeRequest(step.create);
    const body = CreateChargeRequest.encode(create).finish();
    return { ...common, body, expectation: keyExpectation ?? expectCreate(create), target: undefined, amount: create.amount, create };
  }
  const { id, charge } = targetOf(step, state);
  switch (step.rpc) {
    case 'CaptureCharge': {
      const amount = resolveAmount(step.amount, Number(charge?.amount ?? 1000));
      const body = CaptureChargeRequest.encode({ chargeId: id, ...(amount !== undefined ? { amount } : {}) }).finish();
      return { ...common, body, expectation: keyExpectation ?? expectCapture(charge, amount), target: charge, amount, create: undefined };
    }
    case 'RefundCharge': {
      const base = charge ? Number(charge.amountCaptured) - Number(charge.amountRefunded) : 1000;
      const amount = resolveAmount(step.amount, base);
      const body = RefundChargeRequest.encode({ chargeId: id, reason: step.reason, ...(amount !== undefined ? { amount } : {}) }).finish();
      return { ...common, body, expectation: keyExpectation ?? expectRefund(charge, amount, step.reason), target: charge, amount, create: undefined };
    }
    case 'CancelCharge': {
      const body = CancelChargeRequest.encode({ chargeId: id }).finish();
      return { ...common, body, expectation: keyExpectation ?? expectCancel(charge), target: charge, amount: undefined, create: undefined };
    }
  }
}

function metadataOf(entries: Record<string, string[]>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, values] of Object.entries(entries)) for (const v of values) md.add(k, v);
  return md;
}
