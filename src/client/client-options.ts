import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import type { TlsOptions } from './client-credentials.js';
import type { ClientLogger } from './client-event.js';
import type { RetryPolicy } from './retry-policy.js';

/** Default overall deadline of one call, all attempts and waits included. */
export const DEFAULT_DEADLINE_MS = 60_000;

export interface PaymentsClientOptions {
  /**
   * A gRPC target: "host:port", "dns:///payments.internal:50051", or several instances as
   * "ipv4:10.0.0.1:50051,10.0.0.2:50051". Calls are spread over every address the target resolves
   * to (round robin), and an instance that goes away is skipped by the retries.
   */
  target: string;
  /** The merchant's API key, sent as `authorization: Bearer ...` on every call. */
  apiKey: string;
  /**
   * TLS: `false` (default) is plaintext, for a server on localhost or behind a TLS-terminating
   * proxy; `true` verifies against the system roots; `{ rootCerts, certChain, privateKey }` adds
   * a private CA and mutual TLS. Ready-made grpc-js ChannelCredentials are accepted as well.
   */
  tls?: TlsOptions | ChannelCredentials;
  /** Overrides of DEFAULT_RETRY_POLICY. */
  retry?: Partial<RetryPolicy>;
  /** Overall deadline of one call in milliseconds, retries included (default 60 s). */
  deadlineMs?: number;
  /** Receives one event per retry and per failed call (no keys or payloads in them). */
  logger?: ClientLogger;
  /** Extra grpc-js channel options (e.g. "grpc.keepalive_time_ms"). */
  channelOptions?: ChannelOptions;
}

/** Options of one call. */
export interface CallOptions {
  /**
   * The idempotency key of this logical call (mutating methods only). Unset: the client makes a
   * random one. Pass your own to make a retry of a logical call after a crash or a restart of the
   * caller safe: the same key on the same request replays the first outcome.
   */
  idempotencyKey?: string;
  /** Overall deadline of this call in milliseconds, retries included. */
  deadlineMs?: number;
  /** Overrides of the client's retry policy for this call. */
  retry?: Partial<RetryPolicy>;
  /** Aborting stops the call and any further attempt (the error is CANCELLED). */
  signal?: AbortSignal;
}
