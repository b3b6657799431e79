/** Everything the interceptor reports for metrics, one name per outcome. */
export const IdempotencyEvent = {
  Claimed: 'claimed',
  Replayed: 'replayed',
  /** A replay answered from the process's completed outcomes (also counted as replayed). */
  ReplayedFromMemory: 'replayed_from_memory',
  Mismatched: 'mismatched',
  InUse: 'in_use',
  Waited: 'waited',
  Released: 'released',
  KeptForRecovery: 'kept_for_recovery',
  TakenOver: 'taken_over',
  Recovered: 'recovered',
  Reaped: 'reaped',
  StoreUnavailable: 'store_unavailable',
  Fenced: 'fenced',
  /** A row parked in needs_attention for an operator (counted once, when parked). */
  NeedsAttention: 'needs_attention',
  /** A retry answered IDEMPOTENCY_KEY_NEEDS_ATTENTION because its row is parked. */
  AttentionAnswered: 'attention_answered',
} as const;
export type IdempotencyEvent = (typeof IdempotencyEvent)[keyof typeof IdempotencyEvent];

export type IdempotencyObserver = (event: IdempotencyEvent, count?: number) => void;
