import { type Client, Metadata, type ServiceError } from '@grpc/grpc-js';

/** What the library needs of a generated method definition (`PaymentServiceService.x`). */
export interface UnaryMethod<Req, Res> {
  path: string;
  requestSerialize: (value: Req) => Buffer;
  responseDeserialize: (value: Buffer) => Res;
}

export type AttemptOutcome<Res> = { ok: true; response: Res; headers: Metadata } | { ok: false; error: ServiceError; headers: Metadata | undefined };

/**
 * One attempt of a unary call as a promise that never rejects: the response or the error, each
 * with the response headers (where `idempotent-replayed` and `idempotency-expires-at` travel).
 * Aborting `signal` cancels the attempt (CANCELLED).
 */
export function unaryAttempt<Req, Res>(
  client: Client,
  method: UnaryMethod<Req, Res>,
  request: Req,
  metadata: Metadata,
  deadline: Date,
  signal: AbortSignal | undefined,
): Promise<AttemptOutcome<Res>> {
  return new Promise((resolve) => {
    let headers: Metadata | undefined;
    const onAbort = (): void => call.cancel();
    const call = client.makeUnaryRequest<Req, Res>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata,
      { deadline },
      (err, response) => {
        signal?.removeEventListener('abort', onAbort);
        if (err !== null || response === undefined) {
          resolve({ ok: false, error: err ?? missingResponse(), headers });
        } else {
          resolve({ ok: true, response, headers: headers ?? new Metadata() });
        }
      },
    );
    call.on('metadata', (m: Metadata) => {
      headers = m;
    });
    if (signal?.aborted) call.cancel();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function missingResponse(): ServiceError {
  // grpc-js reports a missing message itself; this only satisfies the callback's types.
  return Object.assign(new Error('no response message'), { code: 13, details: 'no response message', metadata: new Metadata() });
}
