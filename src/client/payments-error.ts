import { status as Code, Metadata, type ServiceError } from '@grpc/grpc-js';
import { decodeStatusDetails } from '../grpc/status-details.js';
import { REPLAYED_HEADER } from './call-result.js';

const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** What the library knows about the call an error ended. */
export interface ErrorContext {
  /** Full method path, e.g. "/payments.v1.PaymentService/CreateCharge". */
  method: string;
  /** The key every attempt carried; undefined for reads. */
  idempotencyKey: string | undefined;
  /** Attempts made, this one included. */
  attempts: number;
}

/**
 * The one error the client throws. Everything a caller needs to decide what to do is a field:
 * the gRPC code, the server's message (actionable, safe to log), the google.rpc.ErrorInfo reason
 * and metadata (`field` names the request field at fault), the server's RetryInfo delay, and the
 * idempotency key, so a caller can retry the same logical call later with the same key.
 */
export class PaymentsError extends Error {
  override name = 'PaymentsError';
  /** gRPC status code (grpc-js `status`). */
  readonly code: Code;
  /** The code's name, e.g. "FAILED_PRECONDITION". */
  readonly codeName: string;
  /** google.rpc.ErrorInfo reason, e.g. "IDEMPOTENCY_KEY_REUSED"; undefined when the server gave none. */
  readonly reason: string | undefined;
  /** google.rpc.ErrorInfo metadata (empty when none). */
  readonly errorMetadata: Readonly<Record<string, string>>;
  /** The request field at fault (ErrorInfo metadata "field"), for INVALID_ARGUMENT. */
  readonly field: string | undefined;
  /** google.rpc.RetryInfo: how long the server asked the client to wait before retrying. */
  readonly retryDelayMs: number | undefined;
  readonly method: string;
  readonly idempotencyKey: string | undefined;
  readonly attempts: number;
  /** True when the server replayed this stored outcome of an earlier attempt with the same key. */
  readonly replayed: boolean;

  constructor(
    code: Code,
    message: string,
    context: ErrorContext,
    details: { reason?: string; errorMetadata?: Record<string, string>; retryDelayMs?: number; replayed?: boolean; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.codeName = Code[code] ?? `CODE_${code}`;
    this.reason = details.reason;
    this.errorMetadata = Object.freeze({ ...(details.errorMetadata ?? {}) });
    this.field = this.errorMetadata['field'];
    this.retryDelayMs = details.retryDelayMs;
    this.method = context.method;
    this.idempotencyKey = context.idempotencyKey;
    this.attempts = context.attempts;
    this.replayed = details.replayed ?? false;
  }

  /**
   * Normalises what one attempt failed with: a grpc-js ServiceError (with its
   * grpc-status-details-bin trailer decoded) or anything else (UNKNOWN).
   */
  static from(err: unknown, context: ErrorContext, headers?: Metadata): PaymentsError {
    if (err instanceof PaymentsError) return err;
    if (!isServiceError(err)) {
      return new PaymentsError(Code.UNKNOWN, err instanceof Error ? err.message : String(err), context, { cause: err });
    }
    const raw = err.metadata.get(STATUS_DETAILS_KEY)[0];
    // A malformed trailer must not hide the status itself: the code and message still count.
    let details: ReturnType<typeof decodeStatusDetails> | undefined;
    try {
      details = raw instanceof Buffer ? decodeStatusDetails(raw) : undefined;
    } catch {
      details = undefined;
    }
    return new PaymentsError(err.code, err.details, context, {
      ...(details?.errorInfo ? { reason: details.errorInfo.reason, errorMetadata: details.errorInfo.metadata } : {}),
      ...(details?.retryInfo ? { retryDelayMs: details.retryInfo.retryDelayMs } : {}),
      replayed: headers?.get(REPLAYED_HEADER)[0] === 'true' || err.metadata.get(REPLAYED_HEADER)[0] === 'true',
      cause: err,
    });
  }

  /** The same error, counted over all attempts of the call. */
  withAttempts(attempts: number): PaymentsError {
    if (attempts === this.attempts) return this;
    return new PaymentsError(
      this.code,
      this.message,
      { method: this.method, idempotencyKey: this.idempotencyKey, attempts },
      {
        ...(this.reason !== undefined ? { reason: this.reason } : {}),
        errorMetadata: { ...this.errorMetadata },
        ...(this.retryDelayMs !== undefined ? { retryDelayMs: this.retryDelayMs } : {}),
        replayed: this.replayed,
        cause: this.cause,
      },
    );
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && (err as Partial<ServiceError>).metadata instanceof Metadata;
}
