import { randomUUID } from 'node:crypto';
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
import { ProviderAuthenticationError, ProviderCardError, ProviderUnavailableError } from '../provider/provider-error.js';
import type { ProviderClient } from '../provider/provider-client.js';
import type { PaymentIntent } from '../provider/provider-types.js';
import { chargeToProto, REFUND_REASONS, refundToProto } from './charge-mapper.js';
import { providerRefusal } from './provider-refusal.js';
import type { ChargeRecord, ChargeRepository, RefundRecord, WriteGuard } from './charge-repository.js';
import { ChargeState, stateAfterRefund } from './charge-status.js';
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

/**
 * Where a use case's writes go: with a claimed idempotency record, into the
 * transaction that stores the response (fenced by the lease); without one
 * (only the benchmark's no-interceptor baseline), straight to the database.
 */
class Writes {
  private readonly direct: SqlStatement[] = [];
  constructor(private readonly claim: ClaimedRecord | undefined) {}
  get keyId(): string | null {
    return this.claim?.id ?? null;
  }
  add(write: (guard: WriteGuard) => SqlStatement): void {
    if (this.claim) {
      const guarded: GuardedWrite = (sql, values) => write({ sql, values });
      this.claim.completeWith(guarded);
    } else {
      this.direct.push(write({ sql: '1 = 1', values: [] }));
    }
  }
  async flush(repo: ChargeRepository): Promise<void> {
    if (this.direct.length > 0) await repo.execute(this.direct);
  }
}

/** The payment use cases. Every provider call carries a key derived from the claimed idempotency record. */
export class PaymentService {
  constructor(
    private readonly repo: ChargeRepository,
    private readonly provider: ProviderClient,
    /** Without the interceptor (benchmark baseline only) mutating calls run unclaimed. */
    private readonly requireClaim = true,
  ) {}

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

  async createCharge(merchantId: string, req: CreateChargeRequest, claim: ClaimedRecord | undefined): Promise<Charge> {
    const amount = parseAmount('amount', req.amount);
    const currency = parseCurrency(req.currency);
    const paymentMethod = requireText('payment_method', req.paymentMethod, MAX_PAYMENT_METHOD_LENGTH);
    const customerId = optionalText('customer_id', req.customerId, MAX_CUSTOMER_ID_LENGTH);
    const description = optionalText('description', req.description, MAX_DESCRIPTION_LENGTH);
    const metadata = validateMetadata(req.metadata);
    const captureMethod = req.captureMethod === CaptureMethod.CAPTURE_METHOD_MANUAL ? 'manual' : 'automatic';
    if (req.captureMethod !== CaptureMethod.CAPTURE_METHOD_UNSPECIFIED && !Object.values(CaptureMethod).includes(req.captureMethod)) {
      throw ApiError.invalidArgument(`capture_method: unknown value ${req.captureMethod}`, { reason: 'FIELD_INVALID', metadata: { field: 'capture_method' } });
    }
    const key = this.providerKey(claim, 'create_charge');

    let intent: PaymentIntent;
    let failure: { code: string; message: string } | undefined;
    try {
      intent = await this.callProvider(claim, () =>
        this.provider.createPaymentIntent(
          { amount, currency, paymentMethod, captureMethod, ...(customerId ? { customer: customerId } : {}), ...(description ? { description } : {}), metadata },
          key,
        ),
      );
    } catch (err) {
      if (err instanceof ProviderCardError && err.paymentIntent) {
        // A decline is a business result (stored and replayed), not an RPC error.
        intent = err.paymentIntent;
        failure = { code: err.declineCode ?? err.code, message: err.message };
      } else throw providerRefusal(err, 'payment_method', true);
    }

    const now = new Date();
    const charge: ChargeRecord = {
      id: newId('ch_'),
      merchantId,
      status: failure
        ? ChargeState.Failed
        : intent.status === 'requires_capture'
          ? ChargeState.RequiresCapture
          : intent.status === 'succeeded'
            ? ChargeState.Succeeded
            : ChargeState.Failed,
      amount,
      amountCaptured: failure ? 0 : intent.amount_received,
      amountRefunded: 0,
      currency,
      customerId,
      description,
      metadata,
      captureMethod,
      paymentMethod,
      failureCode: failure?.code ?? '',
      failureMessage: failure?.message ?? '',
      providerReference: intent.id,
      createdAt: now,
      updatedAt: now,
    };
    const writes = new Writes(claim);
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

  async captureCharge(merchantId: string, req: CaptureChargeRequest, claim: ClaimedRecord | undefined): Promise<Charge> {
    const charge = await this.chargeOf(merchantId, req.chargeId);
    if (charge.status !== ChargeState.RequiresCapture) {
      throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only a requires_capture charge can be captured`, { reason: 'CHARGE_NOT_CAPTURABLE' });
    }
    const amount = req.amount === undefined ? charge.amount : parseAmount('amount', req.amount);
    if (amount > charge.amount) {
      throw ApiError.invalidArgument(`amount: ${amount} exceeds the authorized amount ${charge.amount}`, { reason: 'FIELD_INVALID', metadata: { field: 'amount' } });
    }
    const key = this.providerKey(claim, 'capture_charge');
    const intent = await this.callProvider(claim, () => this.provider.capturePaymentIntent(charge.providerReference, amount, key)).catch(
      (err: unknown) => this.definitiveProviderError(err, 'charge_id'),
    );
    const updated: ChargeRecord = { ...charge, status: ChargeState.Succeeded, amountCaptured: intent.amount_received, updatedAt: new Date() };
    const writes = new Writes(claim);
    writes.add((guard) => this.repo.updateCharge(updated, ChargeState.RequiresCapture, guard));
    await writes.flush(this.repo);
    return chargeToProto(updated);
  }

  async cancelCharge(merchantId: string, req: CancelChargeRequest, claim: ClaimedRecord | undefined): Promise<Charge> {
    const charge = await this.chargeOf(merchantId, req.chargeId);
    if (charge.status !== ChargeState.RequiresCapture) {
      throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only an uncaptured (requires_capture) charge can be canceled`, { reason: 'CHARGE_NOT_CANCELABLE' });
    }
    const key = this.providerKey(claim, 'cancel_charge');
    await this.callProvider(claim, () => this.provider.cancelPaymentIntent(charge.providerReference, key)).catch((err: unknown) =>
      this.definitiveProviderError(err, 'charge_id'),
    );
    const updated: ChargeRecord = { ...charge, status: ChargeState.Canceled, updatedAt: new Date() };
    const writes = new Writes(claim);
    writes.add((guard) => this.repo.updateCharge(updated, ChargeState.RequiresCapture, guard));
    await writes.flush(this.repo);
    return chargeToProto(updated);
  }

  async refundCharge(merchantId: string, req: RefundChargeRequest, claim: ClaimedRecord | undefined): Promise<Refund> {
    const charge = await this.chargeOf(merchantId, req.chargeId);
    if (!REFUND_REASONS[req.reason]) {
      throw ApiError.invalidArgument(`reason: unknown value ${req.reason}`, { reason: 'FIELD_INVALID', metadata: { field: 'reason' } });
    }
    if (charge.status !== ChargeState.Succeeded && charge.status !== ChargeState.PartiallyRefunded) {
      throw ApiError.failedPrecondition(`charge_id: charge is ${charge.status}; only a captured charge can be refunded`, { reason: 'CHARGE_NOT_REFUNDABLE' });
    }
    const refundable = charge.amountCaptured - charge.amountRefunded;
    const amount = req.amount === undefined ? refundable : parseAmount('amount', req.amount);
    if (amount > refundable) {
      throw ApiError.failedPrecondition(`amount: ${amount} exceeds the refundable amount ${refundable} (captured ${charge.amountCaptured}, refunded ${charge.amountRefunded})`, {
        reason: 'REFUND_EXCEEDS_CAPTURED',
        metadata: { field: 'amount' },
      });
    }
    const key = this.providerKey(claim, 'refund_charge');
    const providerRefund = await this.callProvider(claim, () =>
      this.provider.createRefund({ paymentIntent: charge.providerReference, amount }, key),
    ).catch((err: unknown) => this.definitiveProviderError(err, 'amount'));
    const now = new Date();
    const refund: RefundRecord = {
      id: newId('re_'),
      merchantId,
      chargeId: charge.id,
      amount,
      currency: charge.currency,
      status: providerRefund.status === 'failed' ? 'failed' : 'succeeded',
      reason: REFUND_REASONS[req.reason] ?? 'unspecified',
      providerReference: providerRefund.id,
      createdAt: now,
    };
    const refunded = charge.amountRefunded + amount;
    const updated: ChargeRecord = { ...charge, amountRefunded: refunded, status: stateAfterRefund(charge.amountCaptured, refunded), updatedAt: now };
    const writes = new Writes(claim);
    writes.add((guard) => this.repo.insertRefund(refund, writes.keyId, guard));
    writes.add((guard) => this.repo.refundCharge(updated, amount, guard));
    await writes.flush(this.repo);
    return refundToProto(refund, updated);
  }

  async getCharge(merchantId: string, req: GetChargeRequest): Promise<Charge> {
    return chargeToProto(await this.chargeOf(merchantId, req.chargeId));
  }

  async listCharges(merchantId: string, req: ListChargesRequest): Promise<ListChargesResponse> {
    if (req.pageSize < 0) throw ApiError.invalidArgument('page_size: must not be negative', { reason: 'FIELD_INVALID', metadata: { field: 'page_size' } });
    const limit = Math.min(req.pageSize === 0 ? DEFAULT_PAGE_SIZE : req.pageSize, MAX_PAGE_SIZE);
    const customerId = req.customerId === '' ? undefined : optionalText('customer_id', req.customerId, MAX_CUSTOMER_ID_LENGTH);
    let beforeSeq: string | undefined;
    if (req.pageToken !== '') {
      const decoded = /^[A-Za-z0-9_-]{1,100}$/.test(req.pageToken) ? Buffer.from(req.pageToken, 'base64url').toString('utf8') : '';
      const match = /^v1:(\d{1,20}):(.*)$/.exec(decoded);
      if (!match?.[1] || (match[2] ?? '') !== (customerId ?? '')) {
        throw ApiError.invalidArgument('page_token: invalid or does not match this filter; pass next_page_token from the previous page unchanged', {
          reason: 'FIELD_INVALID',
          metadata: { field: 'page_token' },
        });
      }
      beforeSeq = match[1];
    }
    const page = await this.repo.listCharges(merchantId, { limit, beforeSeq, customerId });
    return {
      charges: page.charges.map(chargeToProto),
      nextPageToken: page.more && page.lastSeq ? Buffer.from(`v1:${page.lastSeq}:${customerId ?? ''}`).toString('base64url') : '',
    };
  }
}

