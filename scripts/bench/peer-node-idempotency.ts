import { status as Code } from '@grpc/grpc-js';
import { Idempotency, IdempotencyError, IdempotencyErrorCodes } from '@node-idempotency/core';
import { RedisStorageAdapter } from '@node-idempotency/storage-adapter-redis';
import { Charge, CreateChargeRequest, PaymentServiceService } from '../../src/gen/payments/v1/payments.js';
import { ApiError } from '../../src/grpc/api-error.js';
import { toStatus } from '../../src/grpc/to-status.js';
import { chargeFromJson, jsonObject, keyInUse, keyReused, type PeerIdempotency, storeUnavailable } from './peer-idempotency.js';

/** What is stored for a call that failed: its status, replayed as is. */
interface StoredError {
  code: number;
  details: string;
}

function isStoredError(value: unknown): value is StoredError {
  return (
    typeof value === 'object' && value !== null && 'code' in value && typeof value.code === 'number' && 'details' in value && typeof value.details === 'string'
  );
}

function grpcCode(code: number): Code {
  const known = Object.values(Code).find((c): c is Code => c === code);
  return known ?? Code.UNKNOWN;
}

/**
 * `@node-idempotency/core` with `@node-idempotency/storage-adapter-redis`, as
 * its README's usage shows: `onRequest` before the business logic (a stored
 * response is given back as is), `onResponse` with the body, or with the
 * error, once the logic has run. Options are the library's defaults (records
 * kept 24 h, a duplicate that finds its key in progress is refused at once
 * rather than made to wait); the request's method, path, idempotency-key
 * header and JSON body are what it keys and fingerprints.
 */
export async function nodeIdempotencyPeer(redisUrl: string): Promise<PeerIdempotency> {
  const storage = new RedisStorageAdapter({ url: redisUrl });
  await storage.connect();
  const idempotency = new Idempotency(storage);
  return {
    async createCharge(scopedKey, request, charge) {
      const req = {
        method: 'POST',
        path: PaymentServiceService.createCharge.path,
        headers: { 'idempotency-key': scopedKey },
        body: jsonObject(CreateChargeRequest.toJSON(request)),
      };
      let stored: Awaited<ReturnType<typeof idempotency.onRequest>>;
      try {
        stored = await idempotency.onRequest(req);
      } catch (err) {
        if (err instanceof IdempotencyError && err.code === IdempotencyErrorCodes.REQUEST_IN_PROGRESS) throw keyInUse();
        if (err instanceof IdempotencyError && err.code === IdempotencyErrorCodes.IDEMPOTENCY_FINGERPRINT_MISSMATCH) throw keyReused();
        throw storeUnavailable(err);
      }
      if (stored !== undefined) {
        if (isStoredError(stored.error)) throw new ApiError(grpcCode(stored.error.code), stored.error.details);
        return chargeFromJson(stored.body);
      }
      let result: Charge;
      try {
        result = await charge();
      } catch (err) {
        const status = toStatus(err);
        const error: StoredError = { code: status.code, details: status.details };
        await idempotency.onResponse(req, { error }).catch(() => undefined);
        throw err;
      }
      try {
        await idempotency.onResponse(req, { body: Charge.toJSON(result) });
      } catch (err) {
        throw storeUnavailable(err);
      }
      return result;
    },
    async close() {
      await storage.disconnect();
    },
  };
}
