/**
 * What the client reports to the `logger` hook. Events carry no idempotency key, request,
 * response or metadata (they may end up in shared logs); the key is on the result or the error.
 */
export type ClientEvent =
  | {
      kind: 'retry';
      /** Full method path. */
      method: string;
      /** The attempt that failed (1 for the first). */
      attempt: number;
      codeName: string;
      reason: string | undefined;
      /** How long the client waits before the next attempt. */
      delayMs: number;
    }
  | {
      kind: 'gave-up';
      method: string;
      attempts: number;
      codeName: string;
      reason: string | undefined;
      /** Why no further attempt was made. */
      why: 'not-retryable' | 'attempts-exhausted' | 'deadline-exhausted' | 'aborted';
    };

export type ClientLogger = (event: ClientEvent) => void;
