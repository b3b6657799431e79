import type { ServiceDefinition } from '@grpc/grpc-js';

/** Already-serialized response bytes that must go on the wire unchanged (replays). */
export class RawResponse {
  constructor(readonly bytes: Buffer) {}
}

/**
 * Wraps each method's response serializer so a RawResponse passes through
 * byte for byte: grpc-js always runs the registered serializer, and a replay
 * must send exactly the stored bytes (and not pay for encoding twice).
 */
export function withRawResponses<S extends ServiceDefinition>(service: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const serialize = method.responseSerialize;
    out[name] = {
      ...method,
      responseSerialize: (value: unknown): Buffer => (value instanceof RawResponse ? value.bytes : serialize(value)),
    };
  }
  return out as S;
}
