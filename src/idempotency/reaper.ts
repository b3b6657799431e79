import type { Logger } from '../logger.js';
import { IdempotencyEvent, type IdempotencyObserver } from './idempotency-events.js';
import type { IdempotencyStore } from './idempotency-store.js';
import { PeriodicTask } from './periodic-task.js';

export interface ReaperOptions {
  store: IdempotencyStore;
  /** Rows deleted per statement; small so a large backlog never holds long locks. */
  batchSize: number;
  /** Mean pause between passes, jittered ±50%. */
  intervalMs: number;
  log: Logger;
  observe?: IdempotencyObserver;
}

/** Upper bound on batches per pass, so one pass cannot run unbounded behind a huge backlog. */
const MAX_BATCHES_PER_PASS = 100;

/** Deletes completed idempotency rows past their expiry. In-progress rows are never deleted. */
export class Reaper {
  private readonly task: PeriodicTask;

  constructor(private readonly o: ReaperOptions) {
    this.task = new PeriodicTask('reaper', o.intervalMs, () => this.runOnce(), o.log);
  }

  async runOnce(): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES_PER_PASS; i++) {
      const n = await this.o.store.reapExpired(this.o.batchSize);
      total += n;
      if (n < this.o.batchSize) break;
    }
    if (total > 0) {
      this.o.observe?.(IdempotencyEvent.Reaped, total);
      this.o.log.info({ deleted: total }, 'reaped expired idempotency keys');
    }
    return total;
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }
}
