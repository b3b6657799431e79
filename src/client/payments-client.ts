import type { ChannelOptions } from '@grpc/grpc-js';
import {
  CancelChargeRequest,
  CaptureChargeRequest,
  type Charge,
  CreateChargeRequest,
  type DeepPartial,
  GetChargeRequest,
  ListChargesRequest,
  type ListChargesResponse,
  PaymentServiceClient,
  PaymentServiceService,
  type Refund,
  RefundChargeRequest,
} from '../gen/payments/v1/payments.js';
import type { CallResult } from './call-result.js';
import { callWithRetries } from './call-with-retries.js';
import { channelCredentials } from './client-credentials.js';
import { type CallOptions, DEFAULT_DEADLINE_MS, type PaymentsClientOptions } from './client-options.js';
import { newIdempotencyKey } from './idempotency-key.js';
import { shippedKeyedMethods } from './keyed-methods.js';
import { type RetryPolicy, resolveRetryPolicy } from './retry-policy.js';
import type { UnaryMethod } from './unary-attempt.js';

/**
 * Calls spread over every address of the target, so a dead instance costs one failed attempt
 * and the retry lands on a live one (pick_first would stay on one address until it fails).
 */
const ROUND_ROBIN_SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** Longest pause between reconnects to an instance that went away (a restart takes seconds). */
const MAX_RECONNECT_BACKOFF_MS = 5_000;

/**
 * A PaymentService client that makes retries safe without thought: every mutating call carries
 * an idempotency key (one per logical call, the same on every attempt), transient failures are
 * retried with backoff, and results say whether they were replayed.
 *
 *     const payments = new PaymentsClient({ target: 'localhost:50051', apiKey });
 *     const { response: charge } = await payments.createCharge({ amount: '1500', currency: 'usd', paymentMethod: 'pm_card_visa' });
 */
export class PaymentsClient {
  private readonly grpc: PaymentServiceClient;
  private readonly keyed: Set<string>;
  private readonly policy: RetryPolicy;
  private readonly deadlineMs: number;

  constructor(private readonly options: PaymentsClientOptions) {
    if (options.apiKey === '') throw new TypeError('apiKey is required');
    this.policy = resolveRetryPolicy(options.retry);
    this.deadlineMs = positiveDeadline(options.deadlineMs ?? DEFAULT_DEADLINE_MS);
    this.keyed = shippedKeyedMethods();
    const channelOptions: ChannelOptions = {
      'grpc.service_config': ROUND_ROBIN_SERVICE_CONFIG,
      'grpc.primary_user_agent': 'exactly-once-payments-client',
      // grpc-js waits up to 120 s between reconnects to an address that failed; a restarted
      // instance must be found again within one call's deadline.
      'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
      ...options.channelOptions,
    };
    this.grpc = new PaymentServiceClient(options.target, channelCredentials(options.tls), channelOptions);
  }

  /** Charges (or authorizes) a payment method. A declined card is a result (status FAILED), not an error. */
  createCharge(request: DeepPartial<CreateChargeRequest>, options?: CallOptions): Promise<CallResult<Charge>> {
    return this.call(PaymentServiceService.createCharge, CreateChargeRequest.fromPartial(request), options);
  }

  /** Captures an authorized charge, fully or partially. */
  captureCharge(request: DeepPartial<CaptureChargeRequest>, options?: CallOptions): Promise<CallResult<Charge>> {
    return this.call(PaymentServiceService.captureCharge, CaptureChargeRequest.fromPartial(request), options);
  }

  /** Refunds a captured charge, fully or partially. */
  refundCharge(request: DeepPartial<RefundChargeRequest>, options?: CallOptions): Promise<CallResult<Refund>> {
    return this.call(PaymentServiceService.refundCharge, RefundChargeRequest.fromPartial(request), options);
  }

  /** Releases an uncaptured authorization. */
  cancelCharge(request: DeepPartial<CancelChargeRequest>, options?: CallOptions): Promise<CallResult<Charge>> {
    return this.call(PaymentServiceService.cancelCharge, CancelChargeRequest.fromPartial(request), options);
  }

  /** Reads one charge (no key needed; retried like any read). */
  getCharge(request: DeepPartial<GetChargeRequest>, options?: CallOptions): Promise<CallResult<Charge>> {
    return this.call(PaymentServiceService.getCharge, GetChargeRequest.fromPartial(request), options);
  }

  /** One page of charges, newest first. */
  listCharges(request: DeepPartial<ListChargesRequest>, options?: CallOptions): Promise<CallResult<ListChargesResponse>> {
    return this.call(PaymentServiceService.listCharges, ListChargesRequest.fromPartial(request), options);
  }

  /** Closes the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close(): void {
    this.grpc.close();
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: CallOptions = {}): Promise<CallResult<Res>> {
    const keyed = this.keyed.has(method.path);
    if (!keyed && options.idempotencyKey !== undefined) {
      return Promise.reject(new TypeError(`${method.path} is a read and takes no idempotency key`));
    }
    return callWithRetries({
      client: this.grpc,
      method,
      request,
      apiKey: this.options.apiKey,
      idempotencyKey: keyed ? (options.idempotencyKey ?? newIdempotencyKey()) : undefined,
      policy: options.retry ? resolveRetryPolicy(this.policy, options.retry) : this.policy,
      deadlineMs: positiveDeadline(options.deadlineMs ?? this.deadlineMs),
      logger: this.options.logger,
      signal: options.signal,
    });
  }
}

function positiveDeadline(ms: number): number {
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError('deadlineMs must be a finite number > 0');
  return ms;
}
