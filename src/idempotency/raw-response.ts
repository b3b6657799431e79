import type { ServiceDefinition } from '@grpc/grpc-js';
import { tolerantDeserializer, undecodableRequestError } from '../grpc/undecodable-request.js';

/** Already-serialized response bytes that must go on the wire unchanged (replays). */
export class RawResponse {
  constructor(readonly bytes: Buffer) {}
}

const NOT_DECODED: unique symbol = Symbol('not decoded');

/**
 * A keyed method's request as it arrived, decoded on first use: a retry that
 * carries the stored request's exact bytes is answered from them and never
 * decoded. Only the idempotency interceptor receives one (withRawMessages
 * makes them only for the methods it intercepts); it hands the decoded
 * message on to the handler.
 */
export class RawRequest {
  private decoded: unknown = NOT_DECODED;

  constructor(
    readonly bytes: Buffer,
    private readonly deserialize: (bytes: Buffer) => unknown,
    private readonly path = '',
  ) {}

  /** The decoded request; throws INVALID_ARGUMENT (REQUEST_INVALID) for bytes that do not decode. */
  get message(): unknown {
    if (this.decoded === NOT_DECODED) {
      try {
        this.decoded = this.deserialize(this.bytes);
      } catch (err) {
        throw undecodableRequestError(this.path, err);
      }
    }
    return this.decoded;
  }

  /** True when a string of the request is not valid UTF-8 (decodes it first). */
  hasInvalidUtf8(): boolean {
    return decodedInvalidUtf8(this.message, this.bytes);
  }
}

const REPLACEMENT = '\uFFFD';
/** U+FFFD in UTF-8: a client may send it on purpose, so only replacements beyond these count. */
const REPLACEMENT_BYTES = Buffer.from(REPLACEMENT, 'utf8');

/** U+FFFD characters in every string (and map key) of a decoded message. */
function replacementsIn(value: unknown, depth = 0): number {
  if (typeof value === 'string') return countIn(value);
  if (typeof value !== 'object' || value === null || depth > 16) return 0;
  // Every request passes here: no arrays or entry pairs are allocated for it.
  let n = 0;
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue;
    n += countIn(k) + replacementsIn((value as Record<string, unknown>)[k], depth + 1);
  }
  return n;
}

function countIn(s: string): number {
  let n = 0;
  for (let i = s.indexOf(REPLACEMENT); i !== -1; i = s.indexOf(REPLACEMENT, i + 1)) n++;
  return n;
}

function occurrences(bytes: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(needle); i !== -1; i = bytes.indexOf(needle, i + needle.length)) n++;
  return n;
}

/**
 * The decoder replaces invalid UTF-8 with U+FFFD: more of them in `message` than `bytes` carried
 * means a string was not valid UTF-8.
 */
function decodedInvalidUtf8(message: unknown, bytes: Buffer): boolean {
  const replaced = replacementsIn(message);
  return replaced > 0 && replaced > occurrences(bytes, REPLACEMENT_BYTES);
}

/**
 * Wraps each method's serializers for the idempotency interceptor:
 *   - a RawResponse passes through byte for byte: grpc-js always runs the
 *     registered serializer, and a replay must send exactly the stored bytes
 *     (and not pay for encoding twice);
 *   - a request of a method in `keyed` (the methods the idempotency
 *     interceptor intercepts, see keyedMethods) arrives as a RawRequest,
 *     decoded only when the interceptor needs the message (never for a retry
 *     that sends the stored bytes again); pass none when no idempotency
 *     interceptor runs, or a handler would receive one;
 *   - any other request is decoded at once, as grpc-js would (nothing reads
 *     its bytes again).
 * In both forms, bytes that do not decode are the client's error
 * (INVALID_ARGUMENT), not grpc-js's INTERNAL.
 */
export function withRawMessages<S extends ServiceDefinition>(service: S, keyed: ReadonlySet<string> = new Set()): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const serialize = method.responseSerialize;
    const deserialize = method.requestDeserialize;
    out[name] = {
      ...method,
      responseSerialize: (value: unknown): Buffer => (value instanceof RawResponse ? value.bytes : serialize(value)),
      requestDeserialize: keyed.has(method.path)
        ? (bytes: Buffer): unknown => new RawRequest(bytes, deserialize, method.path)
        : // Bytes that do not decode reach the handler as an UndecodableRequest (see unary()).
          tolerantDeserializer(method.path, deserialize),
    };
  }
  return out as S;
}
