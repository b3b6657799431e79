import type { handleUnaryCall, Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '../logger.js';
import { toStatus } from './to-status.js';
import { UndecodableRequest } from './undecodable-request.js';

/**
 * Adapts an async function to grpc-js's callback API once, so every call
 * completes exactly once, and every thrown value goes through `toStatus`
 * (unknown errors are logged with their cause and answered INTERNAL; a
 * database error is logged by its codes only, never its statement or message).
 * A request whose bytes did not decode (see tolerantDeserializer) is answered
 * INVALID_ARGUMENT without running `fn`.
 */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  fn: (request: Req, metadata: Metadata, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let result: Promise<Res>;
    try {
      if (call.request instanceof UndecodableRequest) throw call.request.error();
      result = fn(call.request, call.metadata, call);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (response) => callback(null, response),
      (err: unknown) => {
        const status = toStatus(err);
        if (!status.known) log.error({ err, method }, 'unhandled error in handler');
        callback({ code: status.code, details: status.details, metadata: status.metadata });
      },
    );
  };
}
