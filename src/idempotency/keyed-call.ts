/**
 * One call of a keyed method, from its metadata to its stored outcome: the
 * state machine of the idempotency interceptor (idempotency-interceptor.ts
 * builds one per call). It stays one file because its steps share the call's
 * state (claim, answered, settled, pending headers) and are read in order.
 */
import {
  status as Code,
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerListener,
  type ServerMethodDefinition,
  type StatusObject,
} from '@grpc/grpc-js';
import { isStoreUnavailable } from '../db/store-unavailable.js';
import { ApiError } from '../grpc/api-error.js';
import { toStatus } from '../grpc/to-status.js';
import { CanonicalizationError, CanonicalRequest } from './canonical-request.js';
import { attachClaim, ClaimedRecord } from './claimed-record.js';
import type { Stamp } from './completed-outcomes.js';
import { decide } from './decision.js';
import { IdempotencyEvent } from './idempotency-events.js';
import { readIdempotencyKey } from './idempotency-key.js';
import type { Shared } from './interceptor-options.js';
import { RawRequest, RawResponse } from './raw-response.js';
import { type KeyRecord, RecoveryPoint, type StoredResponse } from './record.js';
import { type Settlement, settle } from './settle.js';
import { decodeTrailers, encodeTrailers } from './trailers.js';

type PartialStatusObject = Pick<StatusObject, 'code' | 'details'> & { metadata?: Metadata | null };

export const REPLAYED_HEADER = 'idempotent-replayed';
export const EXPIRES_AT_HEADER = 'idempotency-expires-at';

/** First poll of a key held by another attempt; short because most charges finish in tens of ms. */
const WAIT_FIRST_POLL_MS = 10;
/** Longest pause between polls, so hundreds of waiters cost the database little. */
const WAIT_MAX_POLL_MS = 200;
/** Margin kept before the caller's deadline so the ABORTED answer still reaches it in time. */
const DEADLINE_MARGIN_MS = 50;

/** The answer for a key whose row is parked in needs_attention (DESIGN §4). */
function needsAttention(): ApiError {
  return ApiError.failedPrecondition(
    'the outcome of the request with this idempotency key could not be settled automatically and is held for the service operator; ' +
      'do not retry it with a new key (that could charge twice): contact the operator with the idempotency key',
    { reason: 'IDEMPOTENCY_KEY_NEEDS_ATTENTION' },
  );
}

function deadlineMs(call: ServerInterceptingCallInterface): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : Infinity;
}

/**
 * One call of a keyed method. Its state and steps live on one object (the
 * replay path is hot: a retry storm is all replays, so a call allocates
 * little beyond what grpc-js needs).
 */
export class KeyedCall {
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
  /** Request messages seen; a unary call carries exactly one. */
  private messages = 0;
  private pendingHeaders: { md: Metadata; next: (md: Metadata) => void } | undefined;

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
    // A leader's headers wait for its outcome to be settled: they carry the
    // expiry its completion set (grpc-js holds the message until they go).
    if (this.claim && !this.settled) {
      this.pendingHeaders = { md, next };
      return;
    }
    this.sendHeaders(md, next);
  }

  private sendHeaders(md: Metadata, next: (md: Metadata) => void): void {
    if (this.expiresAt !== undefined) md.set(EXPIRES_AT_HEADER, this.expiresAt);
    next(md);
  }

  private flushHeaders(): void {
    const pending = this.pendingHeaders;
    this.pendingHeaders = undefined;
    if (pending) this.sendHeaders(pending.md, pending.next);
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
    this.messages++;
    if (this.messages > 1) {
      // A unary call carries one request. A second one (only a hand-made
      // HTTP/2 client sends it) arrives after the first was claimed and handed
      // on, before the handler ran (grpc-js starts it at the half-close): the
      // first claim did nothing, so it is ended here, and the call is refused,
      // instead of claiming again and leaving the first row for the completer
      // to charge while the client is told the call failed.
      if (this.claim && !this.settled) this.endUnused(this.claim);
      this.fail(ApiError.invalidArgument(`${this.method.path} is a unary method: send exactly one request message per call`, { reason: 'REQUEST_INVALID' }));
      return;
    }
    // Refuse before you claim: a request validation rejects leaves nothing
    // behind. The validation runs before the request is first encoded,
    // hashed or written (see CanonicalRequest); a retry that carries the
    // stored request's exact bytes is answered without it, and without
    // decoding it (it arrives as a RawRequest, see withRawMessages).
    if (!(message instanceof RawRequest)) {
      // A wiring bug (the service was not wrapped with withRawMessages(service, keyedMethods(...))):
      // refused as such rather than served without the checks that need the wire bytes.
      this.fail(new Error(`${this.method.path} reached the idempotency interceptor without its wire bytes`));
      return;
    }
    const raw = message;
    const request = new CanonicalRequest(this.method.path, raw, this.serialize, raw.bytes, () => this.validate(raw));
    this.acquire(request).then(
      (won) => {
        if (!won) return;
        if (this.cancelled || this.answered) {
          // The client left (or the call was refused) before the handler got
          // the request, so this attempt did nothing.
          this.endUnused(won);
          return;
        }
        // The handler always gets the decoded request, never a RawRequest.
        let decoded: unknown;
        try {
          decoded = raw.message;
        } catch (err) {
          this.endUnused(won);
          this.fail(err);
          return;
        }
        this.claim = won;
        if (this.metadata) attachClaim(this.metadata, won);
        next(decoded);
      },
      // Only an unreachable or busy store is "unavailable, retry"; any other failure is a bug
      // answered INTERNAL (with its cause logged), never dressed up as an outage.
      (err: unknown) => this.fail(err instanceof ApiError || err instanceof CanonicalizationError || !isStoreUnavailable(err) ? err : this.unavailable(err)),
    );
  }

  private validate(request: RawRequest): void {
    const message = request.message;
    if (request.hasInvalidUtf8()) {
      throw ApiError.invalidArgument('a text field of the request is not valid UTF-8 (protobuf strings must be); send it as UTF-8', {
        reason: 'FIELD_INVALID',
      });
    }
    this.shared.options.validate?.(this.method.path, message);
  }

  /**
   * Ends a claim whose handler never received the request. A fresh claim is
   * freed for the retry; a taken-over row may hold an earlier attempt's
   * provider request, so it is only handed back (lease ended), never deleted.
   */
  private endUnused(won: ClaimedRecord): void {
    this.settled = true;
    const { store, log } = this.shared;
    const end = won.releasable ? store.release(won.fence) : store.abandon(won.fence);
    void end.catch((err: unknown) => log.warn({ err }, 'could not end an unused claim'));
  }

  private answer(status: PartialStatusObject, headers?: Metadata): void {
    if (this.answered) return; // one answer per call, whichever path gets there first
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

  private replay(record: KeyRecord): void {
    const response = record.response;
    if (!response) throw new Error(`completed idempotency record ${record.id} has no response`);
    if (this.answered) return;
    this.shared.observe(IdempotencyEvent.Replayed);
    this.answered = true;
    const headers = this.keyHeaders();
    headers.set(REPLAYED_HEADER, 'true');
    this.call.sendMetadata(headers);
    const trailers = response.trailers.length > 0 ? decodeTrailers(response.trailers) : undefined;
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
    let record: KeyRecord | undefined = completed?.get(this.scope, this.key);
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
          return new ClaimedRecord(store, claimed.record, false, this.shared.terms);
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
          // A defective request is refused as such, whatever its key holds.
          request.ensureValid();
          observe(IdempotencyEvent.Mismatched);
          throw ApiError.failedPrecondition(
            decision.what === 'method'
              ? `idempotency key was already used for ${record.method}; use a new key for each operation`
              : 'idempotency key was already used with a different request payload; use a new key for a different request',
            { reason: 'IDEMPOTENCY_KEY_REUSED' },
          );
        case 'needs_attention':
          observe(IdempotencyEvent.AttentionAnswered);
          throw needsAttention();
        case 'expired':
          request.ensureValid(); // nothing is written for a request that is refused
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
            return new ClaimedRecord(store, taken, true, this.shared.terms);
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

  /** Persists the leader's outcome, then lets its headers go; returns the status to send instead of the handler's, if any. */
  private async settleLeader(response: StoredResponse): Promise<PartialStatusObject | undefined> {
    try {
      return await this.settleOutcome(response);
    } finally {
      this.flushHeaders();
    }
  }

  private async settleOutcome(response: StoredResponse): Promise<PartialStatusObject | undefined> {
    const leader = this.claim;
    if (!leader || this.settled) return undefined;
    this.settled = true;
    const { store, observe } = this.shared;
    let result: Settlement;
    try {
      result = await settle(store, leader, response);
    } catch (err) {
      if (leader.attentionReason !== undefined)
        this.shared.log.error({ id: leader.id, method: this.method.path }, 'could not park an idempotency record for an operator; it stays in progress');
      // The outcome could not be stored. The row stays in progress (a retry
      // after the lease resumes it), so the client must not see success.
      return toStatus(this.unavailable(err));
    }
    // The expiry counts from the completion: the answer's header says so.
    if (result === 'completed') this.expiresAt = leader.expiresAt.toISOString();
    // Stored under our lease: a retry on this instance replays it from memory.
    if (result === 'completed' && this.claimSentAt) this.shared.completed?.remember(leader.completedWith(response), this.claimSentAt);
    if (result === 'released') observe(IdempotencyEvent.Released);
    if (result === 'kept') observe(IdempotencyEvent.KeptForRecovery);
    if (result === 'parked') {
      observe(IdempotencyEvent.NeedsAttention);
      // Logged once, here: the row id and a reason code, never the request or SQL text.
      this.shared.log.error(
        { id: leader.id, method: this.method.path, reason: leader.attentionReason },
        'idempotency record parked for an operator (needs_attention)',
      );
      return toStatus(needsAttention());
    }
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
      // The handler's work (a charge, perhaps) is done but its answer cannot
      // be stored or sent: park the row rather than run it again.
      this.shared.log.error({ err, method: this.method.path }, 'response serialization failed');
      this.claim.needsAttention('response_not_serializable');
      this.settleLeader({ code: Code.INTERNAL, message: 'internal error', body: null, trailers: [] }).then(
        (override) => this.call.sendStatus(override ?? toStatus(err)),
        (e: unknown) => this.call.sendStatus(toStatus(this.unavailable(e))),
      );
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
