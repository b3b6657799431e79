import type { ResultSetHeader } from 'mysql2';
import { ApiError } from '../grpc/api-error.js';
import { NeedsAttentionError } from '../idempotency/needs-attention-error.js';
import type { ChargeRecord, ChargeRepository } from './charge-repository.js';
import { ChargeState } from './charge-status.js';

/** Rows a write changed (0 for a write that matched nothing, or for a non-write). */
export function affectedRows(result: unknown): number {
  return (result as ResultSetHeader | undefined)?.affectedRows ?? 0;
}

/** Refuses to act on a charge the provider has not settled (processing, requires_action). */
export function requireSettled(charge: ChargeRecord, action: 'captured' | 'canceled' | 'refunded'): void {
  if (charge.status === ChargeState.Processing) {
    throw ApiError.failedPrecondition(
      `charge_id: charge is processing: the payment provider has not finished this payment, so it cannot be ${action} yet; ` +
        'wait until the provider settles it (see provider_reference), then try again with a new idempotency key',
      { reason: 'CHARGE_NOT_SETTLED', metadata: { field: 'charge_id', status: charge.status } },
    );
  }
  if (charge.status === ChargeState.RequiresAction) {
    throw ApiError.failedPrecondition(
      `charge_id: charge is requires_action: the customer must first complete authentication (such as 3-D Secure) with the payment provider, so it cannot be ${action} yet; ` +
        'if they cannot, create a new charge',
      { reason: 'CHARGE_NOT_SETTLED', metadata: { field: 'charge_id', status: charge.status } },
    );
  }
}

/**
 * The charge as the recording transaction left it, after a guarded `UPDATE ... WHERE status = expected`.
 * If the update matched nothing, something else changed the charge meanwhile: the answer is the
 * stored row only if it holds the state the provider reported; otherwise the provider and the
 * database disagree, and the row is handed to an operator rather than answered with a state the
 * database does not hold.
 */
export function snapshotAfter(repo: ChargeRepository, update: unknown, select: unknown, expected: ChargeState): ChargeRecord {
  const snapshot = repo.chargeOfResult(select);
  if (!snapshot || (affectedRows(update) !== 1 && snapshot.status !== expected)) {
    throw new NeedsAttentionError('charge_state_diverged', `the provider reports the charge ${expected}, but the stored charge changed meanwhile`);
  }
  return snapshot;
}
