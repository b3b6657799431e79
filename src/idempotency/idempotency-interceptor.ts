import {
  Metadata,
  ServerInterceptingCall,
  status as Code,
  type StatusObject,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerListener,
  type ServerMethodDefinition,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiError } from '../grpc/api-error.js';
import { toStatus } from '../grpc/to-status.js';
import type { Logger } from '../logger.js';
import { attachClaim, ClaimedRecord } from './claimed-record.js';
import { decide } from './decision.js';
import { CanonicalizationError, CanonicalRequest } from './canonical-request.js';
import type { CompletedOutcomes, Stamp } from './completed-outcomes.js';
import { IdempotencyEvent, type IdempotencyObserver } from './idempotency-events.js';
import { readIdempotencyKey, scopedKey } from './idempotency-key.js';
import type { IdempotencyStore } from './idempotency-store.js';
import { readOnlyMethods } from './method-options.js';
import { RawResponse, rawRequestOf } from './raw-response.js';
import { settle } from './settle.js';
import { decodeTrailers, encodeTrailers } from './trailers.js';
import { RecoveryPoint, type IdempotencyRecord, type StoredResponse } from './record.js';

type PartialStatusObject = Pick<StatusObject, 'code' | 'details'> & { metadata?: Metadata | null };

export const REPLAYED_HEADER = 'idempotent-replayed';
export const EXPIRES_AT_HEADER = 'idempotency-expires-at';

/** First poll of a key held by another attempt; short because most charges finish in tens of ms. */
const WAIT_FIRST_POLL_MS = 10;
/** Longest pause between polls, so hundreds of waiters cost the database little. */
const WAIT_MAX_POLL_MS = 200;
/** Margin kept before the caller's deadline so the ABORTED answer still reaches it in time. */
const DEADLINE_MARGIN_MS = 50;

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
  /** Recovery point a claim starts at, per method path (default `started`). */
  initialRecoveryPoint?: (path: string) => RecoveryPoint;
  log: Logger;
  observe?: IdempotencyObserver;
  /** Completed outcomes kept in memory to replay without a database read (none when unset). */
  completedOutcomes?: CompletedOutcomes;
}

function deadlineMs(call: ServerInterceptingCallInterface): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : Infinity;
}

/** What every keyed call of one interceptor shares. */
interface Shared {
  options: IdempotencyOptions;
  store: IdempotencyStore;
  log: Logger;
  observe: IdempotencyObserver;
  completed: CompletedOutcomes | undefined;
  /** One shared read per key and process, however many local callers wait on it. */
  poll: (scope: string, key: string, afterMs: number) => Promise<IdempotencyRecord | undefined>;
}

/**
 * The idempotency interceptor: an adapter from grpc-js call events to the
 * claim / decide / complete steps. Register it after the auth interceptor.
 *
 *   metadata  → validate the key (INVALID_ARGUMENT) and the scope
 *   message   → fingerprint, CLAIM (one INSERT), then by `decide()`:
 *               proceed to the handler | replay | refuse | wait | take over
 *   response  → store bytes + status with the handler's writes, then send
 *   error     → store if definitive; otherwise release the claim, or keep
 *               the row for recovery when a side effect may have happened
 */
export function idempotencyInterceptor(options: IdempotencyOptions): ServerInterceptor {
  const readOnly = readOnlyMethods(options.descriptorSet);
  const serializers = new Map<string, (value: unknown) => Uint8Array>();
  for (const service of options.services) {
    for (const method of Object.values(service)) {
      const serialize = (method as { requestSerialize?: (v: unknown) => Uint8Array }).requestSerialize;
      if (serialize) serializers.set(method.path, serialize);
    }
  }
  const polls = new Map<string, Promise<IdempotencyRecord | undefined>>();
  const shared: Shared = {
    options,
    store: options.store,
    log: options.log,
    observe: options.observe ?? (() => undefined),
    completed: options.completedOutcomes,
    poll(scope, key, afterMs) {
      const id = scopedKey(scope, key);
      const pending = polls.get(id);
      if (pending) return pending;
      const p = delay(afterMs)
        .then(() => options.store.read(scope, key))
        .finally(() => polls.delete(id));
      polls.set(id, p);
      return p;
    },
  };

  return (methodDescriptor, call) => {
    const serialize = serializers.get(methodDescriptor.path);
    if (readOnly.has(methodDescriptor.path) || !serialize) return new ServerInterceptingCall(call);
    return new KeyedCall(shared, methodDescriptor, call, serialize).intercepting();
  };
}

/**
 * One call of a keyed method. Its state and steps live on one object (the
 * replay path is hot: a retry storm is all replays, so a call allocates
 * little beyond what grpc-js needs).
 */
class KeyedCall {
  private metadata: Metadata | undefined;
  private key = '';
  private scope = '';
  private claim: ClaimedRecord | undefined;
  /** Taken before the statement that returned the claimed row was sent (for remembering its outcome). */
  private claimSentAt: Stamp | undefined;
  private expiresAt: string | undefined;
  /** The interceptor answered itself; the handler never runs. */
  private answered = false;
  /** The leader's outcome was stored, released or kept. */
  private settled = false;
  private cancelled = false;

  constructor(
    private readonly shared: Shared,
    private readonly method: ServerMethodDefinition<unknown, unknown>,
    private readonly call: ServerInterceptingCallInterface,
    private readonly serialize: (value: unknown) => Uint8Array,
  ) {}

  intercepting(): ServerInterceptingCall {
    // Bound methods: no function is defined per call but the one-line start.
    const listener: ServerListener = {
      onReceiveMetadata: this.onMetadata.bind(this),
      onReceiveMessage: this.onMessage.bind(this),
      onReceiveHalfClose: this.onHalfClose.bind(this),
      onCancel: this.onCancel.bind(this),
    };
    return new ServerInterceptingCall(this.call, {
      start: (next) => next(listener),
      sendMetadata: this.sendMetadata.bind(this),
      sendMessage: this.sendMessage.bind(this),
      sendStatus: this.sendStatus.bind(this),
    });
  }

  private onHalfClose(next: () => void): void {
    if (!this.answered) next();
  }

  private onCancel(): void {
    this.cancelled = true;
  }

  private sendMetadata(md: Metadata, next: (md: Metadata) => void): void {
    if (this.expiresAt !== undefined) md.set(EXPIRES_AT_HEADER, this.expiresAt);
    next(md);
  }

  private onMetadata(md: Metadata, next: (md: Metadata) => void): void {
    try {
      this.metadata = md;
      this.key = readIdempotencyKey(md);
      const scope = this.shared.options.scopeOf(md);
      if (scope === undefined) throw ApiError.unauthenticated('missing API key');
      this.scope = scope;
      next(md);
    } catch (err) {
      this.fail(err);
    }
  }

  private onMessage(message: unknown, next: (message: unknown) => void): void {
    const request = new CanonicalRequest(this.method.path, message, this.serialize, rawRequestOf(message));
    this.acquire(request).then(
      (won) => {
        if (!won) return;
        if (this.cancelled) {
          // The client left before the handler got the request, so this
          // attempt did nothing. A fresh claim is freed for the retry; a
          // taken-over row may hold an earlier attempt's provider request,
          // so it is only handed back (lease ended), never deleted.
          this.settled = true;
          const { store, log } = this.shared;
          const end = won.releasable ? store.release(won.fence) : store.abandon(won.fence);
          void end.catch((err: unknown) => log.warn({ err }, 'could not end a claim after cancel'));
          return;
        }
        this.claim = won;
        if (this.metadata) attachClaim(this.metadata, won);
        next(message);
      },
      (err: unknown) => this.fail(err instanceof ApiError || err instanceof CanonicalizationError ? err : this.unavailable(err)),
    );
  }

  private answer(status: PartialStatusObject, headers?: Metadata): void {
    this.answered = true;
    this.call.sendMetadata(headers ?? this.keyHeaders());
    this.call.sendStatus(status);
  }

  private fail(err: unknown): void {
    const status = toStatus(err);
    if (!status.known) this.shared.log.error({ err, method: this.method.path }, 'idempotency interceptor failed');
    this.answer(status);
  }

  private keyHeaders(): Metadata {
    const h = new Metadata();
    if (this.expiresAt !== undefined) h.set(EXPIRES_AT_HEADER, this.expiresAt);
    return h;
  }

  private unavailable(err: unknown): ApiError {
    this.shared.observe(IdempotencyEvent.StoreUnavailable);
    this.shared.log.error({ err, method: this.method.path }, 'idempotency store unavailable');
    return ApiError.unavailable('the idempotency store is unavailable; retry with the same idempotency key (a request is never applied twice)', {
      reason: 'IDEMPOTENCY_UNAVAILABLE',
      retryDelayMs: 1000,
      cause: err,
    });
  }

  private replay(record: IdempotencyRecord): void {
    const response = record.response;
    if (!response) throw new Error(`completed idempotency record ${record.id} has no response`);
    this.shared.observe(IdempotencyEvent.Replayed);
    this.answered = true;
    const headers = this.keyHeaders();
    headers.set(REPLAYED_HEADER, 'true');
    this.call.sendMetadata(headers);
    const trailers = decodeTrailers(response.trailers);
    if (response.code === Code.OK && response.body) {
      this.call.sendMessage(new RawResponse(response.body), () => this.call.sendStatus({ code: Code.OK, details: 'OK', metadata: trailers }));
    } else {
      this.call.sendStatus({ code: response.code, details: response.message, metadata: trailers });
    }
  }

  /** Claims the key and settles who answers the call; resolves to a claim when the handler should run. */
  private async acquire(request: CanonicalRequest): Promise<ClaimedRecord | undefined> {
    const { options, store, observe, completed } = this.shared;
    const startedAt = Date.now();
    let waitMs = WAIT_FIRST_POLL_MS;
    let waited = false;
    // A completed outcome this process stored or read answers without the database.
    let record: IdempotencyRecord | undefined = completed?.get(this.scope, this.key);
    let source: 'memory' | 'claim' | 'read' = 'memory';
    for (;;) {
      if (record === undefined) {
        source = 'claim';
        this.claimSentAt = completed?.stamp();
        const claimed = await store.claim({
          scope: this.scope,
          key: this.key,
          method: request.method,
          payload: request,
          recoveryPoint: options.initialRecoveryPoint?.(this.method.path) ?? RecoveryPoint.Started,
          ttlSeconds: options.ttlSeconds,
          leaseSeconds: options.leaseSeconds,
        });
        this.expiresAt = claimed.record.expiresAt.toISOString();
        if (claimed.won) {
          observe(IdempotencyEvent.Claimed);
          return new ClaimedRecord(store, claimed.record, false, options.leaseSeconds, options.downstreamWindowSeconds);
        }
        record = claimed.record;
      } else {
        this.expiresAt = record.expiresAt.toISOString();
      }
      const decision = decide(record, request);
      switch (decision.kind) {
        case 'replay':
          if (source === 'memory') observe(IdempotencyEvent.ReplayedFromMemory);
          else if (source === 'claim' && this.claimSentAt) completed?.remember(record, this.claimSentAt);
          this.replay(record);
          return undefined;
        case 'mismatch':
          observe(IdempotencyEvent.Mismatched);
          throw ApiError.failedPrecondition(
            decision.what === 'method'
              ? `idempotency key was already used for ${record.method}; use a new key for each operation`
              : 'idempotency key was already used with a different request payload; use a new key for a different request',
            { reason: 'IDEMPOTENCY_KEY_REUSED' },
          );
        case 'expired':
          await store.deleteExpired(record);
          record = undefined;
          continue;
        case 'take_over': {
          // A caller that already left must not take a row over: it could not
          // finish it, and the row may hold an earlier attempt's provider request.
          if (this.cancelled) throw new ApiError(Code.CANCELLED, 'the call was cancelled before it could resume the request');
          this.claimSentAt = completed?.stamp();
          const taken = await store.takeOver(record, options.leaseSeconds);
          if (taken) {
            observe(IdempotencyEvent.TakenOver);
            return new ClaimedRecord(store, taken, true, options.leaseSeconds, options.downstreamWindowSeconds);
          }
          record = await store.read(this.scope, this.key);
          source = 'read';
          continue;
        }
        case 'wait': {
          if (!waited) observe(IdempotencyEvent.Waited);
          waited = true;
          const until = Math.min(deadlineMs(this.call) - DEADLINE_MARGIN_MS, startedAt + options.maxWaitMs);
          const remaining = until - Date.now();
          if (remaining <= 0 || this.cancelled) {
            observe(IdempotencyEvent.InUse);
            throw new ApiError(Code.ABORTED, 'a request with this idempotency key is still in progress; retry later with the same key', {
              reason: 'IDEMPOTENCY_KEY_IN_USE',
              retryDelayMs: Math.max(100, Math.min(decision.leaseRemainingMs, 1000)),
            });
          }
          // (A poll is shared with other waiters and may have been sent before this call asked: not remembered.)
          record = await this.shared.poll(this.scope, this.key, Math.min(waitMs, remaining));
          source = 'read';
          waitMs = Math.min(WAIT_MAX_POLL_MS, Math.ceil(waitMs * 1.5));
          continue;
        }
      }
    }
  }

  /** Persists the leader's outcome; returns the status to send instead of the handler's, if any. */
  private async settleLeader(response: StoredResponse): Promise<PartialStatusObject | undefined> {
    const leader = this.claim;
    if (!leader || this.settled) return undefined;
    this.settled = true;
    const { store, observe } = this.shared;
    let result;
    try {
      result = await settle(store, leader, response);
    } catch (err) {
      // The outcome could not be stored. The row stays in progress (a retry
      // after the lease resumes it), so the client must not see success.
      return toStatus(this.unavailable(err));
    }
    // Stored under our lease: a retry on this instance replays it from memory.
    if (result === 'completed' && this.claimSentAt) this.shared.completed?.remember(leader.completedWith(response), this.claimSentAt);
    if (result === 'released') observe(IdempotencyEvent.Released);
    if (result === 'kept') observe(IdempotencyEvent.KeptForRecovery);
    if (result !== 'fenced') return undefined;
    observe(IdempotencyEvent.Fenced);
    return toStatus(
      new ApiError(Code.ABORTED, 'this attempt lost its lease to a newer attempt with the same idempotency key; retry to get its result', {
        reason: 'IDEMPOTENCY_KEY_IN_USE',
        retryDelayMs: 100,
      }),
    );
  }

  private sendMessage(message: unknown, next: (message: unknown) => void): void {
    // Unary responses are persisted here, not at sendStatus: after a client
    // cancel the handler's final OK status never reaches this responder,
    // but its message does, and the charge must still complete.
    if (!this.claim || this.settled) {
      next(message);
      return;
    }
    let bytes: Buffer;
    try {
      bytes = message instanceof RawResponse ? message.bytes : this.method.responseSerialize(message);
    } catch (err) {
      this.shared.log.error({ err, method: this.method.path }, 'response serialization failed');
      this.call.sendStatus(toStatus(err));
      return;
    }
    this.settleLeader({ code: Code.OK, message: '', body: bytes, trailers: [] }).then(
      (override) => {
        if (override) this.call.sendStatus(override);
        else next(new RawResponse(bytes));
      },
      (err: unknown) => this.call.sendStatus(toStatus(this.unavailable(err))),
    );
  }

  private sendStatus(status: PartialStatusObject, next: (status: PartialStatusObject) => void): void {
    if (!this.claim || this.settled || status.code === Code.OK) {
      next(status);
      return;
    }
    const trailers = encodeTrailers(status.metadata);
    // A handler error goes out trailers-only (no header block of its own), so
    // the key's expiry travels in its trailers; it is not part of the stored outcome.
    const withExpiry = (s: PartialStatusObject): PartialStatusObject => {
      const metadata = s.metadata?.clone() ?? new Metadata();
      if (this.expiresAt !== undefined) metadata.set(EXPIRES_AT_HEADER, this.expiresAt);
      return { ...s, metadata };
    };
    this.settleLeader({ code: status.code, message: status.details ?? '', body: null, trailers }).then(
      (override) => next(withExpiry(override ?? status)),
      (err: unknown) => next(withExpiry(toStatus(this.unavailable(err)))),
    );
  }
}
