/** The accounting of one strategy's rounds: what the clients were told against what the provider and the database hold. */
import * as grpc from '@grpc/grpc-js';
import type { PaymentIntent } from '../../../src/provider/provider-types.js';
import { DESIGN_NOTE, LABELS, type Strategy } from './strategies.js';
import { type PaymentRun, REUSED_AMOUNT, type TapOutcome } from './workload.js';

/** Figures in the JSON keep a millisecond's thousandth at most. */
export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export interface RoundFigures {
  round: number;
  seconds: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
  timeouts: number;
}

export interface StrategyResult {
  strategy: Strategy;
  label: string;
  designNote: string;
  logicalPayments: number;
  duplicatePayments: number;
  duplicateRatePct: number;
  /** PaymentIntents at the provider for the benchmark's logical payments. */
  paymentIntents: number;
  /** Logical payments with no PaymentIntent at all. */
  uncharged: number;
  /** PaymentIntents beyond the first of each logical payment. */
  extraCharges: number;
  /** Logical payments lost: charged at the provider but never answered OK, or an answer/row/PaymentIntent missing its counterpart. */
  lostCharges: number;
  lost: {
    chargedNeverAnsweredOk: number;
    succeededWithoutPaymentIntent: number;
    succeededWithoutChargeRow: number;
    paymentIntentWithoutChargeRow: number;
  };
  /** OK answers whose charge is not the provider's (unknown PaymentIntent, other amount), and taps whose last answer was a failure (see answeredFailure) for a payment the provider charged. */
  wrongAnswers: number;
  wrong: { okWithOtherCharge: number; failureForChargedPayment: number };
  reusedKeys: { sent: number; accepted: number; refused: number; otherFailures: number; charged: number };
  /** Server processes' CPU (user + system) over the rounds, per gRPC call the clients made. */
  cpuMicrosPerCall: number;
  serverCpuSeconds: number;
  /** The SIGKILL of one instance: when, and how long until its replacement listened (rounds counted from 1). */
  kill: { round: number; afterMs: number; restartMs: number; listeningAgainInRound: number } | undefined;
  /**
   * Where the failures happened: on the payments whose first charge was
   * dropped, on the other payments of the rounds from the kill until the
   * replacement listened, or elsewhere.
   */
  attribution: Record<'duplicates' | 'lost' | 'unanswered' | 'wrongAnswers', { chargeThenDrop: number; killWindow: number; other: number }>;
  /** First create requests the provider charged and then left unanswered. */
  chargeThenDrops: number;
  /** Server log lines at warn level or above, by message, over every instance of the strategy. */
  serverWarnings: Record<string, number>;
  mismatchRejections: number;
  /** Logical payments whose client got no successful answer (every tap failed or gave up). */
  unansweredPayments: number;
  /** Logical payments whose two taps were told about two different charges. */
  inconsistentAnswers: number;
  errorsByCode: Record<string, number>;
  calls: number;
  simulatedTimeouts: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  roundSeconds: number;
  wallSeconds: number;
  rounds: RoundFigures[];
}

/**
 * A tap whose last answer was a failure the server gave (not silence, not "in
 * progress, retry later"): a definitive error, a mismatch refusal, or a
 * retryable failure (UNAVAILABLE, INTERNAL...) still answered on the last
 * attempt. For a payment the provider charged, that answer is wrong.
 */
function answeredFailure(o: TapOutcome): boolean {
  if (o.kind === 'mismatch' || o.kind === 'error') return true;
  return o.kind === 'gave_up' && o.lastCode !== grpc.status.DEADLINE_EXCEEDED && o.lastCode !== grpc.status.ABORTED && o.lastCode !== grpc.status.CANCELLED;
}

/** Everything one strategy's rounds produced, folded in as they finish. */
export class StrategyAccount {
  private readonly intentsByOrder = new Map<string, string[]>();
  private readonly intentById = new Map<string, { amount: number; status: string }>();
  private readonly answered = new Map<string, Array<{ chargeId: string; providerReference: string; amount: string }>>();
  /** Taps that ended on a definitive failure (not a retryable code), by order. */
  private readonly failedTaps = new Map<string, number>();
  private readonly reuse = { sent: 0, accepted: 0, refused: 0, otherFailures: 0, charged: 0 };
  private readonly unansweredOrders: string[] = [];
  private readonly latencies: number[] = [];
  private readonly errors = new Map<string, number>();
  private duplicates = 0;
  private extra = 0;
  private mismatches = 0;
  private unanswered = 0;
  private inconsistent = 0;
  calls = 0;
  timeouts = 0;
  readonly rounds: RoundFigures[] = [];

  constructor(
    private readonly prefix: string,
    private readonly logicalPayments: number,
  ) {}

  /** PaymentIntents of this strategy's orders (warm-up ones are ignored). */
  addIntents(intents: readonly PaymentIntent[]): void {
    for (const intent of intents) {
      const orderId = intent.metadata['order_id'];
      if (orderId === undefined || !orderId.startsWith(this.prefix) || orderId.includes('-warmup-')) continue;
      if (String(intent.amount) === REUSED_AMOUNT) {
        // A reused key's call that was charged: counted with the reused keys, not as the payment's duplicate.
        this.reuse.charged += 1;
        continue;
      }
      this.intentById.set(intent.id, { amount: intent.amount, status: intent.status });
      const ids = this.intentsByOrder.get(orderId);
      if (ids === undefined) {
        this.intentsByOrder.set(orderId, [intent.id]);
        continue;
      }
      ids.push(intent.id);
      this.extra += 1;
      if (ids.length === 2) this.duplicates += 1;
    }
  }

  addRound(round: number, seconds: number, runs: readonly PaymentRun[]): RoundFigures {
    let calls = 0;
    let timeouts = 0;
    for (const run of runs) {
      this.latencies.push(run.latencyMs);
      const oks: Array<{ chargeId: string; providerReference: string; amount: string }> = [];
      for (const tap of run.taps) {
        calls += tap.calls;
        timeouts += tap.timeouts;
        const o = tap.outcome;
        if (answeredFailure(o)) this.failedTaps.set(run.orderId, (this.failedTaps.get(run.orderId) ?? 0) + 1);
        if (o.kind === 'ok') oks.push({ chargeId: o.chargeId, providerReference: o.providerReference, amount: o.amount });
        else if (o.kind === 'mismatch') this.mismatches += 1;
        else {
          const name = grpc.status[o.kind === 'error' ? o.code : o.lastCode] ?? 'UNKNOWN';
          const label = o.kind === 'gave_up' ? `gave up after ${name}` : name;
          this.errors.set(label, (this.errors.get(label) ?? 0) + 1);
        }
      }
      if (oks.length === 0) {
        this.unanswered += 1;
        this.unansweredOrders.push(run.orderId);
      } else this.answered.set(run.orderId, oks);
      if (new Set(oks.map((o) => o.chargeId)).size > 1) this.inconsistent += 1;
    }
    this.calls += calls;
    this.timeouts += timeouts;
    const sorted = Float64Array.from(runs.map((r) => r.latencyMs)).sort();
    const figures: RoundFigures = {
      round,
      seconds: round3(seconds),
      throughput: round3(runs.length / seconds),
      p50Ms: round3(percentile(sorted, 50)),
      p99Ms: round3(percentile(sorted, 99)),
      calls,
      timeouts,
    };
    this.rounds.push(figures);
    return figures;
  }

  addReuse(outcomes: readonly TapOutcome[], calls: number): void {
    this.calls += calls;
    for (const o of outcomes) {
      this.reuse.sent += 1;
      if (o.kind === 'ok') this.reuse.accepted += 1;
      else if (o.kind === 'mismatch') this.reuse.refused += 1;
      else this.reuse.otherFailures += 1;
    }
  }

  get duplicatesSoFar(): number {
    return this.duplicates;
  }

  result(strategy: Strategy, charges: ReadonlyMap<string, string>, wallSeconds: number, run: RunFacts): StrategyResult {
    const chargeRefs = new Set(charges.values());
    const intentIds = new Set<string>();
    const lostOrders = new Set<string>();
    let intentWithoutRow = 0;
    let intents = 0;
    for (const [orderId, ids] of this.intentsByOrder) {
      for (const id of ids) {
        intents += 1;
        intentIds.add(id);
        if (!chargeRefs.has(id)) {
          intentWithoutRow += 1;
          lostOrders.add(orderId);
        }
      }
    }
    let withoutIntent = 0;
    let withoutRow = 0;
    let neverOk = 0;
    let okWithOtherCharge = 0;
    let failureForCharged = 0;
    const wrongByOrder = new Map<string, number>();
    const noteWrong = (orderId: string, n: number): void => {
      if (n > 0) wrongByOrder.set(orderId, (wrongByOrder.get(orderId) ?? 0) + n);
    };
    for (const [orderId, ids] of this.intentsByOrder) {
      const charged = ids.some((id) => this.intentById.get(id)?.status === 'succeeded');
      if (!this.answered.has(orderId)) {
        neverOk += 1;
        lostOrders.add(orderId);
      }
      if (charged) {
        failureForCharged += this.failedTaps.get(orderId) ?? 0;
        noteWrong(orderId, this.failedTaps.get(orderId) ?? 0);
      }
    }
    for (const [orderId, oks] of this.answered) {
      const ids = this.intentsByOrder.get(orderId) ?? [];
      for (const ok of oks) {
        const intent = ids.includes(ok.providerReference) ? this.intentById.get(ok.providerReference) : undefined;
        if (intent === undefined || String(intent.amount) !== ok.amount) {
          okWithOtherCharge += 1;
          noteWrong(orderId, 1);
        }
        if (!intentIds.has(ok.providerReference)) {
          withoutIntent += 1;
          lostOrders.add(orderId);
        }
        if (charges.get(ok.chargeId) !== ok.providerReference) {
          withoutRow += 1;
          lostOrders.add(orderId);
        }
      }
    }
    const sorted = Float64Array.from(this.latencies).sort();
    const roundSeconds = this.rounds.reduce((sum, r) => sum + r.seconds, 0);
    const kill = run.kill;
    const roundOf = (orderId: string): number => Number(/-r(\d+)-p\d+$/.exec(orderId)?.[1] ?? -1) + 1;
    const place = (orderId: string): 'chargeThenDrop' | 'killWindow' | 'other' => {
      if (run.droppedOrders.has(orderId)) return 'chargeThenDrop';
      const r = roundOf(orderId);
      return kill !== undefined && r >= kill.round && r <= kill.listeningAgainInRound ? 'killWindow' : 'other';
    };
    const tally = (orders: Iterable<[string, number]>): { chargeThenDrop: number; killWindow: number; other: number } => {
      const out = { chargeThenDrop: 0, killWindow: 0, other: 0 };
      for (const [orderId, n] of orders) out[place(orderId)] += n;
      return out;
    };
    const duplicated = [...this.intentsByOrder].filter(([, ids]) => ids.length > 1).map(([o]): [string, number] => [o, 1]);
    const attribution = {
      duplicates: tally(duplicated),
      lost: tally([...lostOrders].map((o): [string, number] => [o, 1])),
      unanswered: tally(this.unansweredOrders.map((o): [string, number] => [o, 1])),
      wrongAnswers: tally(wrongByOrder),
    };
    return {
      strategy,
      label: LABELS[strategy],
      designNote: DESIGN_NOTE[strategy],
      logicalPayments: this.logicalPayments,
      duplicatePayments: this.duplicates,
      duplicateRatePct: round3((100 * this.duplicates) / this.logicalPayments),
      paymentIntents: intents,
      uncharged: this.logicalPayments - this.intentsByOrder.size,
      extraCharges: this.extra,
      lostCharges: lostOrders.size,
      lost: {
        chargedNeverAnsweredOk: neverOk,
        succeededWithoutPaymentIntent: withoutIntent,
        succeededWithoutChargeRow: withoutRow,
        paymentIntentWithoutChargeRow: intentWithoutRow,
      },
      wrongAnswers: okWithOtherCharge + failureForCharged,
      wrong: { okWithOtherCharge, failureForChargedPayment: failureForCharged },
      reusedKeys: { ...this.reuse },
      cpuMicrosPerCall: this.calls > 0 ? Math.round((run.serverCpuSeconds * 1e6) / this.calls) : 0,
      serverCpuSeconds: round3(run.serverCpuSeconds),
      kill: run.kill,
      chargeThenDrops: run.chargeThenDrops,
      serverWarnings: run.serverWarnings,
      attribution,
      mismatchRejections: this.mismatches,
      unansweredPayments: this.unanswered,
      inconsistentAnswers: this.inconsistent,
      errorsByCode: Object.fromEntries(this.errors),
      calls: this.calls,
      simulatedTimeouts: this.timeouts,
      throughput: round3(this.logicalPayments / roundSeconds),
      p50Ms: round3(percentile(sorted, 50)),
      p99Ms: round3(percentile(sorted, 99)),
      roundSeconds: round3(roundSeconds),
      wallSeconds: round3(wallSeconds),
      rounds: this.rounds,
    };
  }
}

/** What the run measured outside the clients' answers. */
export interface RunFacts {
  serverCpuSeconds: number;
  kill: { round: number; afterMs: number; restartMs: number; listeningAgainInRound: number } | undefined;
  /** Payments whose first charge the provider dropped. */
  droppedOrders: ReadonlySet<string>;
  chargeThenDrops: number;
  serverWarnings: Record<string, number>;
}
