import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyInconsistentStateError,
  IdempotencyPersistenceLayerError,
  IdempotencyUnknownError,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import { createClient } from '@redis/client';
import { Charge, CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import { ApiError } from '../../src/grpc/api-error.js';
import { DEFAULT_PROVIDER_TIMEOUT_MS } from '../../src/provider/provider-client.js';
import { chargeFromJson, jsonObject, keyInUse, keyReused, type PeerIdempotency, storeUnavailable } from './peer-idempotency.js';

/**
 * The "Lambda timeout" of a CreateCharge: the longest one can run, bounded by
 * its provider call's deadline. Powertools sets a record's in-progress expiry
 * to now + the invocation's remaining time (`registerLambdaContext`, done by
 * `makeIdempotent` when the second argument is a context); after it, another
 * call may take the key over.
 */
const REMAINING_TIME_MS = DEFAULT_PROVIDER_TIMEOUT_MS;

/** The event a Lambda would receive for a CreateCharge: the key and the request. */
interface ChargeEvent {
  idempotencyKey: string;
  request: Record<string, unknown>;
}

/** The part of a Lambda context Powertools reads, plus the use case to run. */
interface ChargeContext {
  getRemainingTimeInMillis(): number;
  charge(): Promise<Charge>;
}

/**
 * `@aws-lambda-powertools/idempotency` 2.x with its cache (Redis/Valkey)
 * persistence layer and a node-redis client, as its documentation shows:
 * `makeIdempotent` around the handler, the idempotency key taken from the
 * event by a JMESPath expression, payload validation on the request, and the
 * context registered so that in-progress records expire. Everything else is
 * the library's default (records expire after 1 hour, no local cache).
 */
export async function powertoolsPeer(redisUrl: string): Promise<PeerIdempotency> {
  const client = await createClient({ url: redisUrl }).connect();
  const persistenceStore = new CachePersistenceLayer({ client });
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'idempotencyKey',
    payloadValidationJmesPath: 'request',
    throwOnNoIdempotencyKey: true,
  });
  const handler = makeIdempotent(async (_event: ChargeEvent, context: ChargeContext): Promise<unknown> => Charge.toJSON(await context.charge()), {
    persistenceStore,
    config,
  });
  return {
    async createCharge(scopedKey, request, charge) {
      const event: ChargeEvent = { idempotencyKey: scopedKey, request: jsonObject(CreateChargeRequest.toJSON(request)) };
      try {
        return chargeFromJson(await handler(event, { getRemainingTimeInMillis: () => REMAINING_TIME_MS, charge }));
      } catch (err) {
        if (err instanceof ApiError) throw err; // the use case's own answer (the record was deleted)
        if (err instanceof IdempotencyAlreadyInProgressError) throw keyInUse();
        if (err instanceof IdempotencyValidationError) throw keyReused();
        if (err instanceof IdempotencyInconsistentStateError || err instanceof IdempotencyPersistenceLayerError || err instanceof IdempotencyUnknownError) {
          throw storeUnavailable(err);
        }
        throw err;
      }
    },
    async close() {
      await client.close();
    },
  };
}
