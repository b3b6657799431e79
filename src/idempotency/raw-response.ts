import type { ServiceDefinition } from '@grpc/grpc-js';

/** Already-serialized response bytes that must go on the wire unchanged (replays). */
export class RawResponse {
  constructor(readonly bytes: Buffer) {}
}

/** The bytes each decoded request arrived as, for as long as the decoded message lives. */
const rawRequests = new WeakMap<object, Buffer>();

/** The request bytes `message` was decoded from, if it came through a service wrapped by `withRawMessages`. */
export function rawRequestOf(message: unknown): Buffer | undefined {
  return typeof message === 'object' && message !== null ? rawRequests.get(message) : undefined;
}

/**
 * Wraps each method's serializers for the idempotency interceptor:
 *   - a RawResponse passes through byte for byte: grpc-js always runs the
 *     registered serializer, and a replay must send exactly the stored bytes
 *     (and not pay for encoding twice);
 *   - each decoded request remembers the bytes it came from, so a retry that
 *     sends the stored bytes again is recognised without re-encoding.
 */
export function withRawMessages<S extends ServiceDefinition>(service: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const serialize = method.responseSerialize;
    const deserialize = method.requestDeserialize;
    out[name] = {
      ...method,
      responseSerialize: (value: unknown): Buffer => (value instanceof RawResponse ? value.bytes : serialize(value)),
      requestDeserialize: (bytes: Buffer): unknown => {
        const message: unknown = deserialize(bytes);
        if (typeof message === 'object' && message !== null) rawRequests.set(message, bytes);
        return message;
      },
    };
  }
  return out as S;
}
