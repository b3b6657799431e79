import { status as Code } from '@grpc/grpc-js';
import { Charge, type CreateChargeRequest, type PaymentServiceServer } from '../../src/gen/payments/v1/payments.js';
import { ApiError } from '../../src/grpc/api-error.js';
import { merchantOf } from '../../src/grpc/auth-interceptor.js';
import { unary } from '../../src/grpc/unary-handler.js';
import { readIdempotencyKey } from '../../src/idempotency/idempotency-key.js';
import type { Logger } from '../../src/logger.js';
import { type ClaimedCall, paymentHandlers } from '../../src/payments/payment-handlers.js';
import type { PaymentService } from '../../src/payments/payment-service.js';

/**
 * The idempotency libraries the benchmark compares with the product, by the
 * name `duplicates-server.ts --strategy` takes. Each wraps the same
 * CreateCharge use case in the same grpc-js server; only "has this key been
 * seen?" is answered by the library, configured as its documentation says
 * (docs/benchmarks-peers.md cites the sections).
 */
export const PEER_STRATEGIES = ['powertools-redis', 'node-idempotency-redis'] as const;
export type PeerStrategy = (typeof PEER_STRATEGIES)[number];

export function isPeerStrategy(value: string | undefined): value is PeerStrategy {
  return (PEER_STRATEGIES as readonly string[]).includes(value ?? '');
}

/** One library in front of CreateCharge. */
export interface PeerIdempotency {
  /**
   * Answers a CreateCharge the way the library decides: a stored answer, a
   * refusal, or `charge()` (the unchanged use case) run under its lock.
   */
  createCharge(scopedKey: string, request: CreateChargeRequest, charge: () => Promise<Charge>): Promise<Charge>;
  close(): Promise<void>;
}

/** A client retries this with the same key: another call holds the key. */
export function keyInUse(): ApiError {
  return new ApiError(Code.ABORTED, 'a request with this idempotency key is still in progress; retry later', { reason: 'IDEMPOTENCY_KEY_IN_USE' });
}

/** The key was first used with another request. */
export function keyReused(): ApiError {
  return ApiError.failedPrecondition('this idempotency key was used with a different request; use a new key for a new payment', {
    reason: 'IDEMPOTENCY_KEY_REUSED',
  });
}

/** The library's store failed; the outcome of the call is unknown to it. */
export function storeUnavailable(cause: unknown): ApiError {
  return ApiError.unavailable('the idempotency store is unavailable; retry with the same key', { reason: 'IDEMPOTENCY_UNAVAILABLE', cause });
}

/** A plain JSON object of a message (ts-proto's toJSON), for libraries that hash or store JSON. */
export function jsonObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('expected a JSON object');
  return { ...value };
}

/** What a library stored for a charge, back to the message (it stores Charge.toJSON). */
export function chargeFromJson(value: unknown): Charge {
  return Charge.fromJSON(value);
}

/**
 * The product's handlers with CreateCharge behind `peer`: same validation,
 * same provider call, same charge writes (the use case runs with `withClaim`'s
 * plain claim, with a provider key that is new on every run, as in the naive
 * rows), keyed by merchant and idempotency key like the product.
 */
export function peerHandlers(service: PaymentService, peer: PeerIdempotency, withClaim: ClaimedCall, log: Logger): PaymentServiceServer {
  return {
    ...paymentHandlers(service, log, withClaim),
    createCharge: unary(log, 'CreateCharge', (req, md) => {
      const merchantId = merchantOf(md);
      if (merchantId === undefined) throw ApiError.unauthenticated('missing API key');
      const key = readIdempotencyKey(md);
      return peer.createCharge(`${merchantId}:${key}`, req, () => withClaim(md, (claim) => service.createCharge(merchantId, req, claim)));
    }),
  };
}
