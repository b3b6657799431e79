/**
 * The load: double-tapped payments whose calls time out and retry on the next
 * instance, with every random choice seeded per (round, payment, tap), so each
 * strategy meets the same load; and the keys reused with another amount.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { CaptureMethod, type Charge, type CreateChargeRequest, type PaymentServiceClient } from '../../../src/gen/payments/v1/payments.js';
import { seededRandom } from '../../chaos/seeded-random.js';
import { PROVIDER_LATENCIES_MS } from './faults.js';
import type { Options, TapsOn } from './options.js';

/** Share of calls that meet a simulated network timeout. */
export const TIMEOUT_SHARE = 0.1;
/**
 * The deadline of a call that "times out": no longer than the shortest
 * provider latency, so a call that reached the provider is always given up by
 * the client before the provider answers, while the server goes on.
 */
export const TIMEOUT_DEADLINE_MS = PROVIDER_LATENCIES_MS[0];
/**
 * Deadline of every other call: above the product's 10 s in-flight wait
 * (IDEMPOTENCY_WAIT_MS), so a duplicate that waits hears ABORTED, never a
 * client-side timeout.
 */
export const CALL_DEADLINE_MS = 15_000;
/** Attempts per tap (first call + retries); a client that never gets an answer gives up after these. */
export const MAX_ATTEMPTS = 8;
/** Retry backoff: 10, 20, 40 ... ms (capped), plus up to 50 % jitter. */
const BACKOFF_BASE_MS = 10;
const BACKOFF_MAX_MS = 320;
/** Codes after which a client retries with the same key (the outcome is unknown or "try again"). */
const RETRYABLE_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNAVAILABLE,
  grpc.status.ABORTED,
  grpc.status.CANCELLED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
]);
/**
 * Keys reused with another amount per round (1 % of the default round), sent
 * once the round's payments are answered, to the instance that did not serve
 * the payment. They must be refused; they are not part of the timed round.
 */
export const REUSED_KEYS_PER_ROUND = 5;
/** Amount of a reused key's call: not the amount its key was first used with. */
export const REUSED_AMOUNT = '2999';
/** Charges per instance before the rounds, so JIT and connection set-up are not measured. */
const WARMUP_CHARGES_PER_SERVER = 20;

/** One random stream per tap, identical for every strategy. */
function tapRandom(seed: number, round: number, payment: number, tap: number): () => number {
  return seededRandom(Math.imul(seed, 0x9e3779b1) ^ Math.imul(round + 1, 0x85ebca6b) ^ Math.imul(payment + 1, 0xc2b2ae35) ^ Math.imul(tap + 1, 0x27d4eb2f));
}

interface CallResult {
  code: grpc.status;
  charge?: Charge;
}

function createCharge(
  client: PaymentServiceClient,
  request: CreateChargeRequest,
  apiKey: string,
  idempotencyKey: string,
  deadlineMs: number,
): Promise<CallResult> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${apiKey}`);
  md.set('idempotency-key', idempotencyKey);
  return new Promise((resolve) => {
    client.createCharge(request, md, { deadline: Date.now() + deadlineMs }, (err, charge) => {
      resolve(err ? { code: err.code } : { code: grpc.status.OK, charge });
    });
  });
}

export type TapOutcome =
  | { kind: 'ok'; chargeId: string; providerReference: string; amount: string }
  | { kind: 'mismatch' }
  | { kind: 'error'; code: grpc.status }
  | { kind: 'gave_up'; lastCode: grpc.status };

interface TapRun {
  outcome: TapOutcome;
  calls: number;
  timeouts: number;
}

export interface PaymentRun {
  orderId: string;
  latencyMs: number;
  taps: TapRun[];
}

export interface LoadContext {
  clients: PaymentServiceClient[];
  apiKey: string;
  seed: number;
  tapGapMs: number;
  tapsOn: TapsOn;
  /** Makes keys and order ids unique per strategy and run. */
  tag: string;
}

/** The amount of every payment (a reused key's call uses REUSED_AMOUNT). */
const PAYMENT_AMOUNT = '1999';

function chargeRequest(orderId: string, amount: string = PAYMENT_AMOUNT): CreateChargeRequest {
  return {
    amount,
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: 'cus_bench_duplicates',
    description: 'duplicate-charge benchmark',
    metadata: { order_id: orderId },
    captureMethod: CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
  };
}

/** One tap: the first call, then retries on the next instance until an answer or MAX_ATTEMPTS. */
async function runTap(ctx: LoadContext, request: CreateChargeRequest, key: string, firstInstance: number, random: () => number): Promise<TapRun> {
  let instance = firstInstance;
  let timeouts = 0;
  let lastCode: grpc.status = grpc.status.OK;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    // Exactly two draws per attempt (timeout, jitter), so attempt k uses the same numbers in every strategy.
    const timesOut = random() < TIMEOUT_SHARE;
    const jitter = random();
    const client = ctx.clients[instance];
    if (!client) throw new Error(`no client for instance ${instance}`);
    if (timesOut) timeouts += 1;
    const result = await createCharge(client, request, ctx.apiKey, key, timesOut ? TIMEOUT_DEADLINE_MS : CALL_DEADLINE_MS);
    if (result.code === grpc.status.OK && result.charge) {
      return {
        outcome: { kind: 'ok', chargeId: result.charge.id, providerReference: result.charge.providerReference, amount: result.charge.amount },
        calls: attempt,
        timeouts,
      };
    }
    if (result.code === grpc.status.FAILED_PRECONDITION) return { outcome: { kind: 'mismatch' }, calls: attempt, timeouts };
    if (!RETRYABLE_CODES.has(result.code)) return { outcome: { kind: 'error', code: result.code }, calls: attempt, timeouts };
    lastCode = result.code;
    if (attempt === MAX_ATTEMPTS) break;
    instance = (instance + 1) % ctx.clients.length;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    await delay(backoff * (1 + jitter / 2));
  }
  return { outcome: { kind: 'gave_up', lastCode }, calls: MAX_ATTEMPTS, timeouts };
}

/** A double tap: the same call twice, the second after a drawn gap; done when both taps have their final answer. */
export async function runPayment(ctx: LoadContext, round: number, index: number, paymentsPerRound: number): Promise<PaymentRun> {
  const orderId = `${ctx.tag}-r${round}-p${index}`;
  const key = `dup-${orderId}`;
  const request = chargeRequest(orderId);
  // The client's connection: payments are spread over the instances as a balancer would.
  const home = (round * paymentsPerRound + index) % ctx.clients.length;
  // Its own random stream (tap 2), so the taps' timeout and jitter draws do not depend on the gap.
  const gapMs = ctx.tapGapMs * tapRandom(ctx.seed, round, index, 2)();
  const started = performance.now();
  const taps = await Promise.all(
    [0, 1].map(async (tap) => {
      if (tap === 1 && gapMs > 0) await delay(gapMs);
      const instance = ctx.tapsOn === 'same' ? home : (home + tap) % ctx.clients.length;
      return runTap(ctx, request, key, instance, tapRandom(ctx.seed, round, index, tap));
    }),
  );
  return { orderId, latencyMs: performance.now() - started, taps };
}

/**
 * After a round: a few of its keys are sent again with another amount, to the
 * instance that did not serve the payment first. Anything but a refusal is a
 * reused key accepted.
 */
export async function reuseKeys(ctx: LoadContext, round: number, paymentsPerRound: number): Promise<TapOutcome[]> {
  const count = Math.min(REUSED_KEYS_PER_ROUND, paymentsPerRound);
  const step = Math.max(1, Math.floor(paymentsPerRound / count));
  return Promise.all(
    Array.from({ length: count }, async (_, k) => {
      const index = k * step;
      const orderId = `${ctx.tag}-r${round}-p${index}`;
      const other = (((round * paymentsPerRound + index) % ctx.clients.length) + 1) % ctx.clients.length;
      const run = await runTap(ctx, chargeRequest(orderId, REUSED_AMOUNT), `dup-${orderId}`, other, tapRandom(ctx.seed, round, index, 3));
      return run.outcome;
    }),
  );
}

export async function warmUp(ctx: LoadContext): Promise<void> {
  await Promise.all(
    ctx.clients.map((client, instance) =>
      Promise.all(
        Array.from({ length: WARMUP_CHARGES_PER_SERVER }, (_, i) => {
          const orderId = `${ctx.tag}-warmup-${instance}-${i}`;
          return createCharge(client, chargeRequest(orderId), ctx.apiKey, `dup-${orderId}`, CALL_DEADLINE_MS);
        }),
      ),
    ),
  );
}

export function tapsDescription(opts: Pick<Options, 'tapGapMs' | 'tapsOn'>): string {
  const where = opts.tapsOn === 'same' ? 'one instance' : 'two instances';
  return opts.tapGapMs > 0 ? `double taps 0-${opts.tapGapMs} ms apart on ${where}` : `double taps at once on ${where}`;
}
