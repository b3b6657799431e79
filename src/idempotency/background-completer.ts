import { status as Code } from '@grpc/grpc-js';
import { toStatus } from '../grpc/to-status.js';
import type { Logger } from '../logger.js';
import { ClaimedRecord, type ClaimTerms } from './claimed-record.js';
import { IdempotencyEvent, type IdempotencyObserver } from './idempotency-events.js';
import type { IdempotencyStore } from './idempotency-store.js';
import { PeriodicTask } from './periodic-task.js';
import { noteHandlerFailure, type Settlement, settle } from './settle.js';
import { encodeTrailers } from './trailers.js';

/** A mutating method the completer can run again from its stored canonical request. */
export interface ResumableMethod {
  path: string;
  /** Runs the method for the taken-over row (the claim carries scope, lease and downstream key). */
  resume(scope: string, request: Buffer, claim: ClaimedRecord): Promise<unknown>;
  responseSerialize(value: unknown): Buffer;
}

export interface CompleterOptions {
  store: IdempotencyStore;
  methods: ResumableMethod[];
  terms: ClaimTerms;
  /** Rows resumed per pass; small so one pass never holds many leases. */
  batchSize: number;
  /** Mean pause between passes; each pause is jittered ±50% so instances do not poll in lockstep. */
  intervalMs: number;
  log: Logger;
  observe?: IdempotencyObserver;
}

/**
 * Finishes rows left in progress past their lease when no client retries:
 * takes each over (one conditional UPDATE, so of many instances exactly one
 * wins), re-runs its method at its recovery point with the same downstream
 * key, and stores the outcome. Safe with any number of instances.
 */
export class BackgroundCompleter {
  private readonly methods: Map<string, ResumableMethod>;
  private readonly task: PeriodicTask;

  constructor(private readonly o: CompleterOptions) {
    this.methods = new Map(o.methods.map((m) => [m.path, m]));
    this.task = new PeriodicTask('background completer', o.intervalMs, () => this.runOnce(), o.log);
  }

  /** One pass; returns how many rows it settled. */
  async runOnce(): Promise<number> {
    const observe = this.o.observe ?? (() => undefined);
    let settledCount = 0;
    // Only rows this build can resume are asked for, so rows it cannot (another version's
    // method, no stored request) never fill a batch and starve the ones behind them.
    for (const row of await this.o.store.findAbandoned(this.o.batchSize, [...this.methods.keys()])) {
      const method = this.methods.get(row.method);
      if (!method || !row.requestBody) continue; // not asked for; a store that returned it anyway is ignored
      const taken = await this.o.store.takeOver(row, this.o.terms.leaseSeconds);
      if (!taken) continue; // another instance or a retrying client got it first
      observe(IdempotencyEvent.TakenOver);
      const claim = new ClaimedRecord(this.o.store, taken, true, this.o.terms);
      let outcome: Settlement;
      try {
        let body: Buffer;
        try {
          body = method.responseSerialize(await method.resume(taken.scope, row.requestBody, claim));
        } catch (err) {
          noteHandlerFailure(claim, err);
          throw err;
        }
        outcome = await settle(this.o.store, claim, { code: Code.OK, message: '', body, trailers: [] });
      } catch (err) {
        const status = toStatus(err);
        if (!status.known && claim.attentionReason === undefined) this.o.log.error({ err, id: row.id }, 'resuming an idempotency record failed');
        outcome = await settle(this.o.store, claim, {
          code: status.code,
          message: status.details,
          body: null,
          trailers: encodeTrailers(status.metadata),
        }).catch(() => 'kept' as const);
      }
      if (outcome === 'completed') {
        settledCount++;
        observe(IdempotencyEvent.Recovered);
      }
      if (outcome === 'parked') {
        observe(IdempotencyEvent.NeedsAttention);
        this.o.log.error({ id: row.id, method: row.method, reason: claim.attentionReason }, 'idempotency record parked for an operator (needs_attention)');
      }
      this.o.log.info({ id: row.id, method: row.method, outcome }, 'background completer resumed an abandoned request');
    }
    return settledCount;
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }
}
