import type { Metadata, ServiceDefinition } from '@grpc/grpc-js';
import type { Logger } from '../logger.js';
import type { ClaimTerms } from './claimed-record.js';
import type { CompletedOutcomes } from './completed-outcomes.js';
import type { IdempotencyObserver } from './idempotency-events.js';
import type { IdempotencyStore } from './idempotency-store.js';
import type { KeyRecord, RecoveryPoint } from './record.js';

export interface IdempotencyOptions {
  store: IdempotencyStore;
  /** buf image / FileDescriptorSet of the served protos: NO_SIDE_EFFECTS methods pass through. */
  descriptorSet: Uint8Array;
  /** Services whose mutating methods are made exactly-once (their request serializers canonicalise fingerprints). */
  services: ServiceDefinition[];
  /** The tenant a call belongs to (the authenticated merchant); keys are unique per scope. */
  scopeOf: (metadata: Metadata) => string | undefined;
  ttlSeconds: number;
  leaseSeconds: number;
  /** How long the downstream system remembers its idempotency keys (see ClaimedRecord.pastDownstreamWindow). */
  downstreamWindowSeconds?: number;
  /** Upper bound on how long a duplicate waits for the leader, whatever its deadline. */
  maxWaitMs: number;
  /**
   * Refuses a request before anything is written (DESIGN §3 "refuse before you claim"): throws
   * an ApiError for every deterministic defect of the request (field limits, enums, formats).
   * A request it refuses leaves no row behind, so the same key with a corrected request runs.
   */
  validate?: (path: string, request: unknown) => void;
  /** Recovery point a claim starts at, per method path (default `started`). */
  initialRecoveryPoint?: (path: string) => RecoveryPoint;
  log: Logger;
  observe?: IdempotencyObserver;
  /** Completed outcomes kept in memory to replay without a database read (none when unset). */
  completedOutcomes?: CompletedOutcomes;
}

/** What every keyed call of one interceptor shares. */
export interface Shared {
  options: IdempotencyOptions;
  store: IdempotencyStore;
  log: Logger;
  observe: IdempotencyObserver;
  completed: CompletedOutcomes | undefined;
  terms: ClaimTerms;
  /** One shared read per key and process, however many local callers wait on it. */
  poll: (scope: string, key: string, afterMs: number) => Promise<KeyRecord | undefined>;
}
