import { randomUUID } from 'node:crypto';
import type { ResultSetHeader } from 'mysql2';
import { ApiError } from '../grpc/api-error.js';
import type { ClaimedRecord } from '../idempotency/claimed-record.js';
import type { GuardedWrite, SqlStatement } from '../idempotency/idempotency-store.js';
import {
  CaptureMethod,
  type CancelChargeRequest,
  type CaptureChargeRequest,
  type Charge,
  type CreateChargeRequest,
  type GetChargeRequest,
  type ListChargesRequest,
  type ListChargesResponse,
  type Refund,
  type RefundChargeRequest,
} from '../gen/payments/v1/payments.js';
import { NeedsAttentionError } from '../idempotency/needs-attention-error.js';
import { RecoveryPoint } from '../idempotency/record.js';
import {
  ProviderAuthenticationError,
  ProviderCardError,
  ProviderInvalidRequestError,
  ProviderUnavailableError,
} from '../provider/provider-error.js';
import type { ProviderClient } from '../provider/provider-client.js';
import type { PaymentIntent, ProviderRefund, RefundStatus as ProviderRefundStatus } from '../provider/provider-types.js';
import { chargeToProto, REFUND_REASONS, refundToProto } from './charge-mapper.js';
import { chargeOutcome, type ChargeOutcome } from './charge-outcome.js';
import { InvalidPageTokenError, PageTokens } from './page-token.js';
import { providerRefusal } from './provider-refusal.js';
import { ProviderLookup } from './provider-lookup.js';
import { checkMerchantMetadata, IDEMPOTENCY_REFERENCE_KEY } from './provider-reference.js';
import {
  PROVIDER_TEXT_COLUMNS,
  type ChargeRecord,
  type ChargeRepository,
  type RefundRecord,
  type RefundState,
  type WriteGuard,
} from './charge-repository.js';
import { ChargeState, REFUNDABLE_STATES } from './charge-status.js';
import { storedPageTokenKey } from './stored-page-token-key.js';
import { truncateCodePoints } from './truncate-code-points.js';
import {
  MAX_CUSTOMER_ID_LENGTH,
  MAX_DESCRIPTION_LENGTH,
  MAX_PAYMENT_METHOD_LENGTH,
  optionalText,
  parseAmount,
  parseCurrency,
  requireChargeId,
  requireText,
  validateMetadata,
} from './validation.js';

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;

/** 122 random bits; randomUUID draws from a cached entropy pool, so ids cost no system call each. */
function newId(prefix: string): string {
  return prefix + randomUUID().replace(/-/g, '');
}

/** The guard of writes made without a claim (only the benchmark's no-interceptor baseline). */
const UNGUARDED: WriteGuard = { sql: '1 = 1', values: [] };

/** A statement that takes the idempotency fence as its guard (see GuardedWrite). */
type Write = (guard: WriteGuard) => SqlStatement;

/**
 * Where a use case's completion writes go: with a claimed idempotency record, into the
 * transaction that stores the response (fenced by the lease); without one, straight to the
 * database.
 */
class CompletionWrites {
  private readonly direct: SqlStatement[] = [];
  constructor(private readonly claim: ClaimedRecord | undefined) {}
  get keyId(): string | null {
    return this.claim?.id ?? null;
  }
  add(write: Write): void {
    if (this.claim) {
      const guarded: GuardedWrite = (sql, values) => write({ sql, values });
      this.claim.completeWith(guarded);
    } else {
      this.direct.push(write(UNGUARDED));
    }
  }
  async flush(repo: ChargeRepository): Promise<void> {
    if (this.direct.length > 0) await repo.execute(this.direct);
  }
}

/**
 * How a provider refund is recorded. Stripe counts a refund it has accepted but not finished
 * (`pending`, `requires_action`) in the charge's amount_refunded, so the same money cannot be
 * refunded twice while it is on its way; a `failed` or `canceled` refund returned nothing.
 */
function refundState(status: ProviderRefundStatus): RefundState {
  if (status === 'succeeded') return 'succeeded';
  if (status === 'failed' || status === 'canceled') return 'failed';
  return 'pending';
}

function affectedRows(result: unknown): number {
  return (result as ResultSetHeader | undefined)?.affectedRows ?? 0;
}

/** The payment use cases. Every provider call carries a key derived from the claimed idempotency record. */
export class PaymentService {
  private readonly lookup: ProviderLookup;
  private pageTokensLoading: Promise<PageTokens> | undefined;

  constructor(
    private readonly repo: ChargeRepository,
    private readonly provider: ProviderClient,
    /** Without the interceptor (benchmark baseline only) mutating calls run unclaimed. */
    private readonly requireClaim = true,
    /**
     * The key that seals page tokens (PAYMENTS_PAGE_TOKEN_KEY); unset: the key stored in the
     * database (see storedPageTokenKey), shared by every instance and kept across restarts.
     */
    private readonly pageTokenKey?: Uint8Array,
  ) {
    this.lookup = new ProviderLookup(provider);
  }

  private providerKey(claim: ClaimedRecord | undefined, purpose: string): string {
    if (claim) return claim.downstreamKey(purpose);
    if (this.requireClaim) throw new Error('mutating call without a claimed idempotency record');
    return newId('direct_');
  }

  /**
   * Runs one provider call, declaring the side effect to the claim first, and
   * turns provider failures into API errors by what they mean for a retry.
   */
  private async callProvider<T>(claim: ClaimedRecord | undefined, call: () => Promise<T>): Promise<T> {
    claim?.beginSideEffect();
    try {
      return await call();
    } catch (err) {
      if (err instanceof ProviderUnavailableError && !err.requestSent) claim?.sideEffectNotPerformed();
      if (err instanceof ProviderAuthenticationError) {
        claim?.sideEffectNotPerformed();
        throw ApiError.unavailable('the payment provider rejected this service\'s credentials; nothing was charged', {
          reason: 'PROVIDER_UNAVAILABLE',
          cause: err,
        });
      }
      if (err instanceof ProviderUnavailableError) {
        throw ApiError.unavailable(
          err.requestSent
            ? 'the payment provider did not confirm the outcome; retry with the same idempotency key to get the result (it will not charge twice)'
            : 'the payment provider is unreachable; nothing was charged, retry with the same idempotency key',
          { reason: 'PROVIDER_UNAVAILABLE', retryDelayMs: 1000, cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Looks up, at the provider, what an earlier attempt of a resumed request did. Only past the
   * provider's idempotency window: within it, re-sending with the same provider key is the
   * lookup (the provider answers with what it did). A refusal of the lookup itself cannot be
   * retried into an answer, so it hands the row to an operator.
   */
  private async lookUp<T>(claim: ClaimedRecord | undefined, find: () => Promise<T>): Promise<T> {
    return this.callProvider(claim, find).catch((err: unknown) => {
      if (err instanceof ProviderInvalidRequestError) {
        throw new NeedsAttentionError('provider_lookup_refused', 'the payment provider refused to look up an earlier attempt', { cause: err });
      }
      throw err;
    });
  }

  /**
   * Commits `writes` now, in one transaction, and resolves with each one's result in order:
   * with a claim through `advance(ChargeRecorded)` (fenced by the lease, so a fenced-out attempt
   * writes nothing); without one, directly. A SELECT among them reads the rows as this very
   * transaction left them: the snapshot an answer is built from.
   */
  private async recordNow(claim: ClaimedRecord | undefined, writes: Write[]): Promise<unknown[]> {
    if (claim) return claim.advance(RecoveryPoint.ChargeRecorded, writes.map((w): GuardedWrite => (sql, values) => w({ sql, values })));
    return this.repo.execute(writes.map((w) => w(UNGUARDED)));
  }

  async createCharge(merchantId: string, req: CreateChargeRequest, claim: ClaimedRecord | undefined): Promise<Charge> {
    const amount = parseAmount('amount', req.amount);
    const currency = parseCurrency(req.currency);
    const paymentMethod = requireText('payment_method', req.paymentMethod, MAX_PAYMENT_METHOD_LENGTH);
    const customerId = optionalText('customer_id', req.customerId, MAX_CUSTOMER_ID_LENGTH);
    const description = optionalText('description', req.description, MAX_DESCRIPTION_LENGTH);
    const metadata = validateMetadata(req.metadata);
    checkMerchantMetadata(metadata);
    const captureMethod = req.captureMethod === CaptureMethod.CAPTURE_METHOD_MANUAL ? 'manual' : 'automatic';
    if (req.captureMethod !== CaptureMethod.CAPTURE_METHOD_UNSPECIFIED && !Object.values(CaptureMethod).includes(req.captureMethod)) {
      throw ApiError.invalidArgument(`capture_method: unknown value ${req.captureMethod}`, { reason: 'FIELD_INVALID', metadata: { field: 'capture_method' } });
    }
    const key = this.providerKey(claim, 'create_charge');

    let outcome: ChargeOutcome | undefined;
    if (claim?.pastDownstreamWindow) {
      // The provider may have forgotten `key`: re-sending could create a second payment.
      const found = await this.lookUp(claim, () => this.lookup.paymentIntent(key));
      if (found && (found.amount !== amount || found.currency !== currency)) {
        throw new NeedsAttentionError('provider_lookup_mismatch', 'the payment found at the provider differs from the request in amount or currency');
      }
      if (found) outcome = chargeOutcome(found);
    }
    if (!outcome) {
      try {
        const intent = await this.callProvider(claim, () =>
          this.provider.createPaymentIntent(
            {
              amount,
              currency,
              paymentMethod,
              captureMethod,
              ...(customerId ? { customer: customerId } : {}),
              ...(description ? { description } : {}),
              metadata: { ...metadata, [IDEMPOTENCY_REFERENCE_KEY]: key },
            },
            key,
          ),
        );
        outcome = chargeOutcome(intent);
      } catch (err) {
        if (!(err instanceof ProviderCardError && err.paymentIntent)) throw providerRefusal(err, 'payment_method', true);
        // A decline is a business result (stored and replayed), not an RPC error.
        outcome = chargeOutcome(err.paymentIntent, { code: err.code, declineCode: err.declineCode, message: err.message });
      }
    }

    const now = new Date();
    const charge: ChargeRecord = {
      ...outcome,
      id: newId('ch_'),
      merchantId,
      amount,
      amountRefunded: 0,
      currency,
      customerId,
      description,
      metadata,
      captureMethod,
      paymentMethod,
      createdAt: now,
      updatedAt: now,
    };
    const writes = new CompletionWrites(claim);
    writes.add((guard) => this.repo.insertCharge(charge, writes.keyId, guard));
    await writes.flush(this.repo);
    return chargeToProto(charge);
  }

  private async chargeOf(merchantId: string, chargeId: string): Promise<ChargeRecord> {
    const id = requireChargeId(chargeId);
    const charge = await this.repo.findCharge(merchantId, id);
    // Another merchant's charge is indistinguishable from a missing one.
    if (!charge) throw ApiError.notFound(`charge_id: no charge "${id}"`);
    return charge;
  }

  private definitiveProviderError(err: unknown, field: string): never {
    throw providerRefusal(err, field, false);
  }

  /** Refuses to act on a charge the provider has not settled (processing, requires_action). */
  private requireSettled(charge: ChargeRecord, action: 'captured' | 'canceled' | 'refunded'): void {
    if (charge.status === ChargeState.Processing) {
      throw ApiError.failedPrecondition(
        `charge_id: charge is processing: the payment provider has not finished this payment, so it cannot be ${action} yet; ` +
          'wait until the provider settles it (see provider_reference), then try again with a new idempotency key',
        { reason: 'CHARGE_NOT_SETTLED', metadata: { field: 'charge_id', status: charge.status } },
      );
    }
    if (charge.status === ChargeState.RequiresAction) {
      throw ApiError.failedPrecondition(
        `charge_id: charge is requires_action: the customer must first complete authentication (such as 3-D Secure) with the payment provider, so it cannot be ${action} yet; ` +
          'if they cannot, create a new charge',
        { reason: 'CHARGE_NOT_SETTLED', metadata: { field: 'charge_id', status: charge.status } },
      );
    }
  }

  /**
   * The charge as the recording transaction left it, after a guarded `UPDATE ... WHERE status = expected`.
   * If the update matched nothing, something else changed the charge meanwhile: the answer is the
   * stored row only if it holds the state the provider reported; otherwise the provider and the
   * database disagree, and the row is handed to an operator rather than answered with a state the
   * database does not hold.
   */
  private snapshotAfter(update: unknown, select: unknown, expected: ChargeState): ChargeRecord {
    const snapshot = this.repo.chargeOfResult(select);
    if (!snapshot || (affectedRows(update) !== 1 && snapshot.status !== expected)) {
      throw new NeedsAttentionError('charge_state_diverged', `the provider reports the charge ${expected}, but the stored charge changed meanwhile`);
    }
    return snapshot;
  }

  async captureCharge(merchantId: string, req: CaptureChargeRequest, claim: ClaimedRecord | undefined): Promise<Charge> {
    // An earlier attempt committed the capture; only its answer is missing.
    if (claim?.recoveryPoint === RecoveryPoint.ChargeRecorded) return chargeToProto(await this.chargeOf(merchantId, req.chargeId));
    const charge = await this.chargeOf(merchantId, req.chargeId);
    this.requireSettled(charge, 'captured');
    if (charge.status !== ChargeState.RequiresCapture) {
      throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only a requires_capture charge can be captured`, { reason: 'CHARGE_NOT_CAPTURABLE' });
    }
    const amount = req.amount === undefined ? charge.amount : parseAmount('amount', req.amount);
    if (amount > charge.amount) {
      throw ApiError.invalidArgument(`amount: ${amount} exceeds the authorized amount ${charge.amount}`, { reason: 'FIELD_INVALID', metadata: { field: 'amount' } });
    }
    const key = this.providerKey(claim, 'capture_charge');
    let intent: PaymentIntent | undefined;
    if (claim?.pastDownstreamWindow) {
      const current = await this.lookUp(claim, () => this.provider.retrievePaymentIntent(charge.providerReference));
      if (current.status === 'succeeded') intent = current; // captured by the earlier attempt
      else if (current.status !== 'requires_capture') {
        throw new NeedsAttentionError('provider_state_unexpected', `a payment to capture is ${current.status} at the provider`);
      }
    }
    intent ??= await this.callProvider(claim, () => this.provider.capturePaymentIntent(charge.providerReference, amount, key)).catch(
      (err: unknown) => this.definitiveProviderError(err, 'charge_id'),
    );
    const updated: ChargeRecord = { ...charge, status: ChargeState.Succeeded, amountCaptured: intent.amount_received, updatedAt: new Date() };
    const [update, select] = await this.recordNow(claim, [
      (guard) => this.repo.updateCharge(updated, ChargeState.RequiresCapture, guard),
      (guard) => this.repo.selectCharge(merchantId, charge.id, guard),
    ]);
    return chargeToProto(this.snapshotAfter(update, select, ChargeState.Succeeded));
  }

  async cancelCharge(merchantId: string, req: CancelChargeRequest, claim: ClaimedRecord | undefined): Promise<Charge> {
    if (claim?.recoveryPoint === RecoveryPoint.ChargeRecorded) return chargeToProto(await this.chargeOf(merchantId, req.chargeId));
    const charge = await this.chargeOf(merchantId, req.chargeId);
    this.requireSettled(charge, 'canceled');
    if (charge.status !== ChargeState.RequiresCapture) {
      throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only an uncaptured (requires_capture) charge can be canceled`, { reason: 'CHARGE_NOT_CANCELABLE' });
    }
    const key = this.providerKey(claim, 'cancel_charge');
    let canceled = false;
    if (claim?.pastDownstreamWindow) {
      const current = await this.lookUp(claim, () => this.provider.retrievePaymentIntent(charge.providerReference));
      canceled = current.status === 'canceled'; // canceled by the earlier attempt
      if (!canceled && current.status !== 'requires_capture') {
        throw new NeedsAttentionError('provider_state_unexpected', `a payment to cancel is ${current.status} at the provider`);
      }
    }
    if (!canceled) {
      await this.callProvider(claim, () => this.provider.cancelPaymentIntent(charge.providerReference, key)).catch((err: unknown) =>
        this.definitiveProviderError(err, 'charge_id'),
      );
    }
    const updated: ChargeRecord = { ...charge, status: ChargeState.Canceled, updatedAt: new Date() };
    const [update, select] = await this.recordNow(claim, [
      (guard) => this.repo.updateCharge(updated, ChargeState.RequiresCapture, guard),
      (guard) => this.repo.selectCharge(merchantId, charge.id, guard),
    ]);
    return chargeToProto(this.snapshotAfter(update, select, ChargeState.Canceled));
  }

  async refundCharge(merchantId: string, req: RefundChargeRequest, claim: ClaimedRecord | undefined): Promise<Refund> {
    if (claim?.recoveryPoint === RecoveryPoint.ChargeRecorded) {
      // An earlier attempt committed the refund; only its answer is missing. The charge is read
      // now: the snapshot that attempt took was not kept.
      const recorded = await this.repo.findRefundByKey(merchantId, claim.id);
      if (!recorded) throw new NeedsAttentionError('refund_not_recorded', 'a refund the provider made could not be recorded against its charge');
      return refundToProto(recorded, await this.chargeOf(merchantId, recorded.chargeId));
    }
    const charge = await this.chargeOf(merchantId, req.chargeId);
    if (!REFUND_REASONS[req.reason]) {
      throw ApiError.invalidArgument(`reason: unknown value ${req.reason}`, { reason: 'FIELD_INVALID', metadata: { field: 'reason' } });
    }
    this.requireSettled(charge, 'refunded');
    if (!REFUNDABLE_STATES.includes(charge.status)) {
      throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only a captured charge can be refunded`, { reason: 'CHARGE_NOT_REFUNDABLE' });
    }
    // Pending refunds count as refunded (see RefundState), so the same money is never refunded twice.
    const refundable = charge.amountCaptured - charge.amountRefunded;
    const amount = req.amount === undefined ? refundable : parseAmount('amount', req.amount);
    if (amount > refundable) {
      throw ApiError.failedPrecondition(`amount: ${amount} exceeds the refundable amount ${refundable} (captured ${charge.amountCaptured}, refunded ${charge.amountRefunded})`, {
        reason: 'REFUND_EXCEEDS_CAPTURED',
        metadata: { field: 'amount' },
      });
    }
    const key = this.providerKey(claim, 'refund_charge');
    let providerRefund: ProviderRefund | undefined;
    if (claim?.pastDownstreamWindow) {
      providerRefund = await this.lookUp(claim, () => this.lookup.refund(charge.providerReference, key));
      if (providerRefund && providerRefund.amount !== amount) {
        throw new NeedsAttentionError('provider_lookup_mismatch', 'the refund found at the provider differs from the request in amount');
      }
    }
    providerRefund ??= await this.callProvider(claim, () =>
      this.provider.createRefund({ paymentIntent: charge.providerReference, amount, metadata: { [IDEMPOTENCY_REFERENCE_KEY]: key } }, key),
    ).catch((err: unknown) => this.definitiveProviderError(err, 'amount'));
    const now = new Date();
    const refund: RefundRecord = {
      id: newId('re_'),
      merchantId,
      chargeId: charge.id,
      amount,
      currency: charge.currency,
      status: refundState(providerRefund.status),
      reason: REFUND_REASONS[req.reason] ?? 'unspecified',
      providerReference: truncateCodePoints(providerRefund.id, PROVIDER_TEXT_COLUMNS.providerReference),
      createdAt: now,
    };
    const keyId = claim?.id ?? null;
    if (refund.status === 'failed') {
      // No money moved: the refund is recorded, the charge is left as it is.
      const [, select] = await this.recordNow(claim, [
        (guard) => this.repo.insertRefund(refund, keyId, guard),
        (guard) => this.repo.selectCharge(merchantId, charge.id, guard),
      ]);
      const snapshot = this.repo.chargeOfResult(select);
      if (!snapshot) throw new Error(`charge ${charge.id} vanished while its refund was recorded`);
      return refundToProto(refund, snapshot);
    }
    // The charge update, then the refund row only if that update matched (never a refund row
    // without its amount on the charge), then the charge as this transaction left it: concurrent
    // refunds of one charge each answer with their own result, not a stale read.
    const [update, , insert, select] = await this.recordNow(claim, [
      (guard) => this.repo.refundCharge({ ...charge, updatedAt: now }, amount, guard),
      (guard) => this.repo.rememberRowCount(guard),
      (guard) => this.repo.insertRefund(refund, keyId, guard, true),
      (guard) => this.repo.selectCharge(merchantId, charge.id, guard),
    ]);
    const snapshot = this.repo.chargeOfResult(select);
    if (affectedRows(update) !== 1 || affectedRows(insert) !== 1 || !snapshot) {
      throw new NeedsAttentionError('refund_not_recordable', 'the provider refunded more than the stored charge has left to refund');
    }
    return refundToProto(refund, snapshot);
  }

  async getCharge(merchantId: string, req: GetChargeRequest): Promise<Charge> {
    return chargeToProto(await this.chargeOf(merchantId, req.chargeId));
  }

  async listCharges(merchantId: string, req: ListChargesRequest): Promise<ListChargesResponse> {
    if (req.pageSize < 0) throw ApiError.invalidArgument('page_size: must not be negative', { reason: 'FIELD_INVALID', metadata: { field: 'page_size' } });
    const limit = Math.min(req.pageSize === 0 ? DEFAULT_PAGE_SIZE : req.pageSize, MAX_PAGE_SIZE);
    const customerId = req.customerId === '' ? undefined : optionalText('customer_id', req.customerId, MAX_CUSTOMER_ID_LENGTH);
    const scope = { merchantId, customerId: customerId ?? '' };
    const tokens = await this.pageTokens();
    let beforeSeq: string | undefined;
    if (req.pageToken !== '') {
      try {
        beforeSeq = tokens.open(req.pageToken, scope);
      } catch (err) {
        if (!(err instanceof InvalidPageTokenError)) throw err;
        throw ApiError.invalidArgument('page_token: invalid or does not match this filter; pass next_page_token from the previous page unchanged', {
          reason: 'FIELD_INVALID',
          metadata: { field: 'page_token' },
        });
      }
    }
    const page = await this.repo.listCharges(merchantId, { limit, beforeSeq, customerId });
    return {
      charges: page.charges.map(chargeToProto),
      nextPageToken: page.more && page.lastSeq ? tokens.seal(page.lastSeq, scope) : '',
    };
  }

  /** Loads the key once; a failed load (store outage) is retried by the next call. */
  private pageTokens(): Promise<PageTokens> {
    this.pageTokensLoading ??= (this.pageTokenKey ? Promise.resolve(this.pageTokenKey) : storedPageTokenKey(this.repo)).then(
      (key) => new PageTokens(key),
      (err: unknown) => {
        this.pageTokensLoading = undefined;
        throw err;
      },
    );
    return this.pageTokensLoading;
  }
}

