/**
 * The clients of a chaos run: thousands of CreateCharge payments, each with its
 * own idempotency key and a unique marker in its metadata, each retried with the
 * same key and payload, on any instance, until a final answer or its deadline.
 */

import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { CaptureMethod, type CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import type { CallAnswer, PaymentClients } from './payment-client.js';
import { intBetween, pick, type Random, streamRandom } from './seeded-random.js';

const PAYMENT_STREAM = 2;
/** The metadata entry that names a payment at the provider and in the charges table. */
export const MARKER_KEY = 'chaos_payment';

/** A client gives up on a payment this long after its first call: the bound of every retry loop. */
export const PAYMENT_DEADLINE_MS = 90_000;
/** Bounds a retry loop in count as well as time (backoff alone allows about 100 in the deadline). */
const MAX_ATTEMPTS = 300;
/**
 * Deadline of an ordinary call: above the in-flight wait (2 s) plus the provider
 * timeout (2.5 s), so only a stopped or overloaded instance makes a call time out.
 */
const CALL_DEADLINE_MS = 5_000;
/** Share of calls whose client gives up early (a mobile client losing its network), and how early. */
const SHORT_DEADLINE_SHARE = 0.05;
const SHORT_DEADLINE_MS = { min: 20, max: 300 };
/** Retry backoff: 50, 100, 200 ... ms, at most 1 s, plus up to 50 % jitter. */
const BACKOFF_BASE_MS = 50;
const BACKOFF_MAX_MS = 1_000;
/** Share of payments tapped twice (the second tap on another instance), and the longest gap. */
const DOUBLE_TAP_SHARE = 0.1;
const DOUBLE_TAP_GAP_MS = 200;
/**
 * Share of payments whose client makes one call and walks away whatever it hears
 * (an app closed mid-payment). Those that hit a fault leave their key to the
 * background completer: the stuck and lost figures then test recovery without clients.
 */
const ABANDON_SHARE = 0.05;
/** Payments in flight at once; bounds the client's memory and sockets if the service stalls. */
const MAX_PAYMENTS_IN_FLIGHT = 256;
/** The verification replay of a finished payment after recovery gets this long. */
export const VERIFY_DEADLINE_MS = 30_000;

/** Codes after which a client retries with the same key: the outcome is unknown or "try again". */
export const RETRYABLE_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.ABORTED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.CANCELLED,
  grpc.status.RESOURCE_EXHAUSTED,
  // Like a 5xx from an HTTP API with idempotency keys: retried, and counted (the service should never answer them).
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
]);

const SUCCEEDING_METHODS = ['pm_card_visa', 'pm_card_mastercard', 'pm_card_amex'] as const;
const DECLINING_METHODS = ['pm_card_chargeDeclined', 'pm_card_chargeDeclinedInsufficientFunds', 'pm_card_chargeDeclinedExpiredCard'] as const;

export interface PaymentPlan {
  index: number;
  key: string;
  marker: string;
  request: CreateChargeRequest;
  /** 1, or 2 for a double tap. */
  taps: number;
  /** The client makes a single call and never retries (see ABANDON_SHARE). */
  abandons: boolean;
  tapGapMs: number;
  firstInstance: number;
  startAtMs: number;
}

export type AnswerSource = 'tap' | 'second tap' | 'verify';

export interface FinalAnswer extends CallAnswer {
  source: AnswerSource;
}

export interface PaymentRecord {
  plan: PaymentPlan;
  finals: FinalAnswer[];
  /** Taps that reached their deadline or attempt limit without a final answer, with the last code they saw. */
  gaveUp: grpc.status[];
  /** The verification replay after recovery got no final answer either (the last code it saw). */
  verifyGaveUp?: grpc.status;
  attempts: number;
}

export function planPayments(seed: number, payments: number, instances: number, windowMs: number): PaymentPlan[] {
  return Array.from({ length: payments }, (_, index) => {
    const random = streamRandom(seed, PAYMENT_STREAM, index);
    const marker = `chaos-${seed}-${index}`;
    const declined = random() < 0.1;
    const manual = random() < 0.15;
    const request: CreateChargeRequest = {
      amount: String(intBetween(random, 50, 250_000)),
      currency: pick(random, ['usd', 'eur', 'gbp']),
      paymentMethod: declined ? pick(random, DECLINING_METHODS) : pick(random, SUCCEEDING_METHODS),
      customerId: `cus_chaos_${intBetween(random, 1, 500)}`,
      description: 'chaos run payment',
      metadata: { [MARKER_KEY]: marker, basket: String(intBetween(random, 1, 9)) },
      captureMethod: manual ? CaptureMethod.CAPTURE_METHOD_MANUAL : CaptureMethod.CAPTURE_METHOD_AUTOMATIC,
    };
    return {
      index,
      key: `key-${marker}`,
      marker,
      request,
      taps: random() < DOUBLE_TAP_SHARE ? 2 : 1,
      tapGapMs: intBetween(random, 0, DOUBLE_TAP_GAP_MS),
      firstInstance: intBetween(random, 0, instances - 1),
      startAtMs: Math.floor((index * windowMs) / payments),
      abandons: random() < ABANDON_SHARE,
    };
  });
}

export interface WorkloadProgress {
  done: number;
  inFlight: number;
  attempts: number;
  retriesByCode: Map<grpc.status, number>;
}

export class Workload {
  readonly records: PaymentRecord[];
  readonly progress: WorkloadProgress = { done: 0, inFlight: 0, attempts: 0, retriesByCode: new Map() };

  constructor(
    plans: PaymentPlan[],
    private readonly clients: PaymentClients,
    private readonly seed: number,
  ) {
    this.records = plans.map((plan) => ({ plan, finals: [], gaveUp: [], attempts: 0 }));
  }

  /** Starts each payment at its planned time (at most MAX_PAYMENTS_IN_FLIGHT at once); resolves when all are final or gave up. */
  async run(): Promise<void> {
    const started = Date.now();
    const running = new Set<Promise<void>>();
    for (const record of this.records) {
      const wait = started + record.plan.startAtMs - Date.now();
      if (wait > 0) await delay(wait);
      while (running.size >= MAX_PAYMENTS_IN_FLIGHT) await Promise.race(running);
      const payment = this.runPayment(record).finally(() => running.delete(payment));
      running.add(payment);
    }
    await Promise.all(running);
  }

  /**
   * After recovery: asks once more, on another instance, for every payment that got a
   * final answer or was abandoned (its answer now is what recovery made of it).
   */
  async verify(): Promise<void> {
    const finished = this.records.filter((r) => r.finals.length > 0 || r.plan.abandons);
    const running = new Set<Promise<void>>();
    for (const record of finished) {
      while (running.size >= MAX_PAYMENTS_IN_FLIGHT) await Promise.race(running);
      const instance = (record.plan.firstInstance + 1) % this.clients.size;
      const random = streamRandom(this.seed, PAYMENT_STREAM + 1, record.plan.index);
      const task = this.untilFinal(record, 'verify', instance, random, Date.now() + VERIFY_DEADLINE_MS, false, MAX_ATTEMPTS)
        .then((lastCode) => {
          if (lastCode !== undefined) record.verifyGaveUp = lastCode;
        })
        .finally(() => running.delete(task));
      running.add(task);
    }
    await Promise.all(running);
  }

  private async runPayment(record: PaymentRecord): Promise<void> {
    const { plan } = record;
    this.progress.inFlight += 1;
    const deadline = Date.now() + PAYMENT_DEADLINE_MS;
    const taps = Array.from({ length: plan.abandons ? 1 : plan.taps }, async (_, tap) => {
      if (tap === 1) await delay(plan.tapGapMs);
      const random = streamRandom(this.seed, PAYMENT_STREAM + 2 + tap, plan.index);
      const instance = (plan.firstInstance + tap) % this.clients.size;
      const lastCode = await this.untilFinal(record, tap === 0 ? 'tap' : 'second tap', instance, random, deadline, true, plan.abandons ? 1 : MAX_ATTEMPTS);
      if (lastCode !== undefined && !plan.abandons) record.gaveUp.push(lastCode);
    });
    await Promise.all(taps);
    this.progress.inFlight -= 1;
    this.progress.done += 1;
  }

  /**
   * One client's loop: call, and on a retryable code call again (next instance, backoff)
   * until final or the deadline. Resolves with the last code when it gave up.
   */
  private async untilFinal(
    record: PaymentRecord,
    source: AnswerSource,
    firstInstance: number,
    random: Random,
    deadline: number,
    shortDeadlines: boolean,
    maxAttempts: number,
  ): Promise<grpc.status | undefined> {
    let instance = firstInstance;
    let lastCode = grpc.status.OK;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const short = shortDeadlines && random() < SHORT_DEADLINE_SHARE;
      const callDeadline = Math.min(left, short ? intBetween(random, SHORT_DEADLINE_MS.min, SHORT_DEADLINE_MS.max) : CALL_DEADLINE_MS);
      record.attempts += 1;
      this.progress.attempts += 1;
      const answer = await this.clients.createCharge(instance, record.plan.request, record.plan.key, callDeadline);
      if (!RETRYABLE_CODES.has(answer.code)) {
        record.finals.push({ ...answer, source });
        return undefined;
      }
      lastCode = answer.code;
      if (attempt === maxAttempts) break;
      this.progress.retriesByCode.set(answer.code, (this.progress.retriesByCode.get(answer.code) ?? 0) + 1);
      instance = (instance + 1) % this.clients.size;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt - 1, 10));
      await delay(Math.min(backoff * (1 + random() / 2), Math.max(0, deadline - Date.now())));
    }
    return lastCode;
  }
}
