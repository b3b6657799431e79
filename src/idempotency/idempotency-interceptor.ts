import { setTimeout as delay } from 'node:timers/promises';
import { ServerInterceptingCall, type ServerInterceptor, type ServiceDefinition } from '@grpc/grpc-js';
import { scopedKey } from './idempotency-key.js';
import type { IdempotencyOptions, Shared } from './interceptor-options.js';
import { KeyedCall } from './keyed-call.js';
import { readOnlyMethods } from './method-options.js';
import type { KeyRecord } from './record.js';

export type { IdempotencyOptions } from './interceptor-options.js';
export { EXPIRES_AT_HEADER, REPLAYED_HEADER } from './keyed-call.js';

/**
 * Paths of the methods the idempotency interceptor intercepts: every method of `services` with a
 * request serializer that the descriptor set does not declare NO_SIDE_EFFECTS. The service
 * definition registered on the server must make RawRequests for exactly these
 * (`withRawMessages(service, keyedMethods(...))`), so the interceptor unwraps every one.
 */
export function keyedMethods(descriptorSet: Uint8Array, services: ServiceDefinition[]): Set<string> {
  return new Set(serializersOf(descriptorSet, services).keys());
}

function serializersOf(descriptorSet: Uint8Array, services: ServiceDefinition[]): Map<string, (value: unknown) => Uint8Array> {
  const readOnly = readOnlyMethods(descriptorSet);
  const serializers = new Map<string, (value: unknown) => Uint8Array>();
  for (const service of services) {
    for (const method of Object.values(service)) {
      const serialize = (method as { requestSerialize?: (v: unknown) => Uint8Array }).requestSerialize;
      if (serialize && !readOnly.has(method.path)) serializers.set(method.path, serialize);
    }
  }
  return serializers;
}

/**
 * The idempotency interceptor: an adapter from grpc-js call events to the
 * claim / decide / complete steps. Register it after the auth interceptor.
 *
 *   metadata  → validate the key (INVALID_ARGUMENT) and the scope
 *   message   → fingerprint, CLAIM (one INSERT), then by `decide()`:
 *               proceed to the handler | replay | refuse | wait | take over
 *   response  → store bytes + status with the handler's writes, then send
 *   error     → store if definitive; otherwise release the claim, or keep
 *               the row for recovery when a side effect may have happened
 */
export function idempotencyInterceptor(options: IdempotencyOptions): ServerInterceptor {
  // The keyed methods and their request serializers (see keyedMethods).
  const serializers = serializersOf(options.descriptorSet, options.services);
  const polls = new Map<string, Promise<KeyRecord | undefined>>();
  const shared: Shared = {
    options,
    store: options.store,
    log: options.log,
    observe: options.observe ?? (() => undefined),
    completed: options.completedOutcomes,
    terms: {
      leaseSeconds: options.leaseSeconds,
      ttlSeconds: options.ttlSeconds,
      downstreamWindowSeconds: options.downstreamWindowSeconds ?? Number.POSITIVE_INFINITY,
    },
    poll(scope, key, afterMs) {
      const id = scopedKey(scope, key);
      const pending = polls.get(id);
      if (pending !== undefined) return pending;
      const p = delay(afterMs)
        .then(() => options.store.readWaiting(scope, key))
        .finally(() => polls.delete(id));
      polls.set(id, p);
      return p;
    },
  };

  return (methodDescriptor, call) => {
    const serialize = serializers.get(methodDescriptor.path);
    if (!serialize) return new ServerInterceptingCall(call);
    return new KeyedCall(shared, methodDescriptor, call, serialize).intercepting();
  };
}
