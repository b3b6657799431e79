/** Per provider idempotency key. */
export interface SimulatorKeyStats {
  requests: number;
  /** Requests that ran (not replays, conflicts or injected 500s). */
  processed: number;
  replays: number;
  /** 409: the key was still being processed. */
  conflicts: number;
  /** 400 idempotency_error: the key was reused for another endpoint or other parameters. */
  mismatches: number;
  paymentIntentsCreated: number;
}

/** What the simulator counted (`sim.stats()`, `GET /_sim/stats`). */
export interface SimulatorStats {
  /** Provider API requests received (control requests under /_sim/ are not counted). */
  requests: number;
  paymentIntentsCreated: number;
  refundsCreated: number;
  idempotentReplays: number;
  idempotencyConflicts: number;
  idempotencyMismatches: number;
  faultsInjected: number;
  /** Requests currently waiting on a `hold` fault. */
  held: number;
  byIdempotencyKey: Record<string, SimulatorKeyStats>;
  /** PaymentIntents per value of a metadata key, when asked for (`groupBy`, `?group_by=`). */
  paymentIntentsGroupedBy?: { metadataKey: string; counts: Record<string, number> };
}

export function newKeyStats(): SimulatorKeyStats {
  return { requests: 0, processed: 0, replays: 0, conflicts: 0, mismatches: 0, paymentIntentsCreated: 0 };
}
