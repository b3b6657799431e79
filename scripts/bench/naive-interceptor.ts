import { status as Code, Metadata, ServerInterceptingCall, type ServerInterceptor, type StatusObject } from '@grpc/grpc-js';
import { PaymentServiceService } from '../../src/gen/payments/v1/payments.js';
import { ApiError } from '../../src/grpc/api-error.js';
import { merchantOf } from '../../src/grpc/auth-interceptor.js';
import { toStatus } from '../../src/grpc/to-status.js';
import { REPLAYED_HEADER } from '../../src/idempotency/idempotency-interceptor.js';
import { readIdempotencyKey } from '../../src/idempotency/idempotency-key.js';
import { RawResponse } from '../../src/idempotency/raw-response.js';
import type { Logger } from '../../src/logger.js';
import { NaiveKeyInUseError, type NaiveKeyStore, type NaiveTicket } from './naive-key-store.js';

/** The only method the duplicate-charge benchmark sends. */
const CREATE_CHARGE_PATH = PaymentServiceService.createCharge.path;

/**
 * A grpc-js server interceptor for the benchmark's naive strategies: ask the
 * store, replay what it returns, otherwise run the handler and hand its
 * response to the store. It has the same shape as the product's interceptor
 * (register after the auth interceptor) so that the only difference measured
 * is how "have I seen this key?" is answered. There is no fingerprint: a key
 * reused with another payload replays the first answer.
 */
export function naiveIdempotencyInterceptor(store: NaiveKeyStore, log: Logger): ServerInterceptor {
  return (methodDescriptor, call) => {
    if (methodDescriptor.path !== CREATE_CHARGE_PATH) return new ServerInterceptingCall(call);

    let scope = '';
    let key = '';
    let ticket: NaiveTicket | undefined;
    let answered = false; // the interceptor answered itself; the handler never runs
    let finished = false; // the ticket was completed or abandoned
    let cancelled = false;

    const answer = (status: Pick<StatusObject, 'code' | 'details' | 'metadata'>): void => {
      answered = true;
      call.sendMetadata(new Metadata());
      call.sendStatus(status);
    };
    const fail = (err: unknown): void => {
      if (err instanceof NaiveKeyInUseError) {
        answer(
          toStatus(new ApiError(Code.ABORTED, 'a request with this idempotency key is still in progress; retry later', { reason: 'IDEMPOTENCY_KEY_IN_USE' })),
        );
        return;
      }
      if (err instanceof ApiError) {
        answer(toStatus(err));
        return;
      }
      log.error({ err, method: methodDescriptor.path }, 'naive idempotency store failed');
      answer(
        toStatus(ApiError.unavailable('the idempotency store is unavailable; retry with the same key', { reason: 'IDEMPOTENCY_UNAVAILABLE', cause: err })),
      );
    };
    const replay = (body: Buffer): void => {
      answered = true;
      const headers = new Metadata();
      headers.set(REPLAYED_HEADER, 'true');
      call.sendMetadata(headers);
      call.sendMessage(new RawResponse(body), () => call.sendStatus({ code: Code.OK, details: 'OK', metadata: new Metadata() }));
    };
    const finish = (outcome: (t: NaiveTicket) => Promise<void>): Promise<void> => {
      const held = ticket;
      if (!held || finished) return Promise.resolve();
      finished = true;
      return outcome(held);
    };

    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (md, mdNext) => {
            try {
              key = readIdempotencyKey(md);
              const merchant = merchantOf(md);
              if (merchant === undefined) throw ApiError.unauthenticated('missing API key');
              scope = merchant;
            } catch (err) {
              fail(err);
              return;
            }
            mdNext(md);
          },
          onReceiveMessage: (message, msgNext) => {
            if (answered) return;
            store.begin(scope, key).then((decision) => {
              if (decision.kind === 'replay') {
                replay(decision.body);
                return;
              }
              if (cancelled) {
                // The client left before the handler got the request: nothing ran.
                void decision.ticket.abandon().catch((err: unknown) => log.warn({ err }, 'could not abandon a naive ticket'));
                return;
              }
              ticket = decision.ticket;
              msgNext(message);
            }, fail);
          },
          onReceiveHalfClose: (halfCloseNext) => {
            if (!answered) halfCloseNext();
          },
          onCancel: () => {
            cancelled = true;
          },
        });
      },
      sendMessage: (message, next) => {
        if (!ticket || finished) {
          next(message);
          return;
        }
        // Like the product, the response is stored when the handler's message
        // passes (it does even after a client cancel), not at sendStatus.
        const bytes = message instanceof RawResponse ? message.bytes : methodDescriptor.responseSerialize(message);
        finish((t) => t.complete(bytes)).then(
          () => next(new RawResponse(bytes)),
          (err: unknown) => {
            log.error({ err }, 'naive idempotency store could not store a response');
            call.sendStatus(toStatus(ApiError.unavailable('the response could not be stored', { reason: 'IDEMPOTENCY_UNAVAILABLE', cause: err })));
          },
        );
      },
      sendStatus: (status, next) => {
        if (status.code !== Code.OK) {
          void finish((t) => t.abandon()).catch((err: unknown) => log.warn({ err }, 'could not abandon a naive ticket'));
        }
        next(status);
      },
    });
  };
}
