import { status as Code } from '@grpc/grpc-js';

export interface ErrorDetails {
  /** google.rpc.ErrorInfo reason, UPPER_SNAKE_CASE. */
  reason?: string;
  /** google.rpc.ErrorInfo metadata. */
  metadata?: Record<string, string>;
  /** google.rpc.RetryInfo delay. */
  retryDelayMs?: number;
  cause?: unknown;
}

/**
 * Replaces lone UTF-16 surrogates with U+FFFD. A status message that quotes a client's text cut
 * in the middle of a surrogate pair would otherwise make grpc-js's `encodeURI` of the
 * `grpc-message` header throw inside the call, which takes the whole process down.
 */
export function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/**
 * The one error type handlers and interceptors throw. Its message is shown to
 * the client as is, so it must be actionable and must never contain secrets.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: Code;
  readonly reason: string | undefined;
  readonly metadata: Record<string, string>;
  readonly retryDelayMs: number | undefined;

  constructor(code: Code, message: string, details: ErrorDetails = {}) {
    super(wellFormed(message), details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.reason = details.reason;
    this.metadata = details.metadata ?? {};
    this.retryDelayMs = details.retryDelayMs;
  }

  static invalidArgument(message: string, details?: ErrorDetails): ApiError {
    return new ApiError(Code.INVALID_ARGUMENT, message, details);
  }
  static notFound(message: string, details?: ErrorDetails): ApiError {
    return new ApiError(Code.NOT_FOUND, message, details);
  }
  static failedPrecondition(message: string, details?: ErrorDetails): ApiError {
    return new ApiError(Code.FAILED_PRECONDITION, message, details);
  }
  static unauthenticated(message: string): ApiError {
    return new ApiError(Code.UNAUTHENTICATED, message);
  }
  static unavailable(message: string, details?: ErrorDetails): ApiError {
    return new ApiError(Code.UNAVAILABLE, message, details);
  }
}

/** The domain used in google.rpc.ErrorInfo. */
export const ERROR_DOMAIN = 'payments.v1';
