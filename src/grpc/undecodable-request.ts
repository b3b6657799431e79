import { ApiError } from './api-error.js';

/**
 * A request whose bytes do not decode as its method's request message. grpc-js answers a
 * deserializer that throws with INTERNAL "Error deserializing request", which tells a client
 * developer nothing they can act on and reads as a server fault; a deserializer wrapped by
 * `tolerantDeserializer` returns this instead, and `unary` answers it INVALID_ARGUMENT.
 */
export class UndecodableRequest {
  constructor(
    readonly path: string,
    readonly cause: unknown,
  ) {}

  error(): ApiError {
    return undecodableRequestError(this.path, this.cause);
  }
}

/** INVALID_ARGUMENT (REQUEST_INVALID) for bytes that do not decode as the request message of `path`. */
export function undecodableRequestError(path: string, cause: unknown): ApiError {
  const method = path.slice(path.lastIndexOf('/') + 1);
  return ApiError.invalidArgument(
    `the ${method} request is not a valid protobuf message of the method's request type (its bytes do not decode); ` +
      'encode it from the proto definitions (proto/payments/v1) or a generated client',
    { reason: 'REQUEST_INVALID', cause },
  );
}

/** `deserialize` that never throws: bytes it cannot decode become an UndecodableRequest. */
export function tolerantDeserializer(path: string, deserialize: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (err) {
      return new UndecodableRequest(path, err);
    }
  };
}
