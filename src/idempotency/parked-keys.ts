import type { ResultSetHeader, RowDataPacket } from 'mysql2';
import type { Pool } from '../db/pool.js';

/** A key parked in `needs_attention`, as an operator sees it (no request or response bodies). */
export interface ParkedKey {
  id: string;
  merchantId: string;
  idempotencyKey: string;
  method: string;
  recoveryPoint: string;
  reason: string;
  createdAt: Date;
}

/**
 * The operator's side of `needs_attention` (see NeedsAttentionError): list
 * the parked keys, and resolve each one in one of two ways, both conditional
 * on the row still being parked:
 * - `retry`: after the cause is fixed (a column widened, the provider checked),
 *   hand the row back to the background completer, which resumes it with the
 *   same provider idempotency key (looked up first past the provider's window);
 * - `release`: after checking at the provider that nothing was charged, delete
 *   the row so that the client's next retry runs as a new request.
 */
export class ParkedKeys {
  constructor(private readonly pool: Pool) {}

  async list(limit: number): Promise<ParkedKey[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT id, merchant_id, idempotency_key, method, recovery_point, attention_reason, created_at
         FROM idempotency_keys WHERE state = 'needs_attention' ORDER BY id LIMIT ?`,
      [limit],
    );
    return rows.map((r) => ({
      id: String(r['id']),
      merchantId: String(r['merchant_id']),
      idempotencyKey: String(r['idempotency_key']),
      method: String(r['method']),
      recoveryPoint: String(r['recovery_point']),
      reason: String(r['attention_reason'] ?? ''),
      createdAt: r['created_at'] as Date,
    }));
  }

  /** Back to in_progress with an ended lease and a new lease version (fencing any old attempt); false if not parked. */
  async retry(id: string): Promise<boolean> {
    const [result] = await this.pool.query<ResultSetHeader>(
      `UPDATE idempotency_keys SET state = 'in_progress', attention_reason = NULL, lease_version = lease_version + 1, locked_until = NOW(6)
        WHERE id = ? AND state = 'needs_attention'`,
      [id],
    );
    return result.affectedRows === 1;
  }

  /** Deletes a parked row; false if it is not parked. */
  async release(id: string): Promise<boolean> {
    const [result] = await this.pool.query<ResultSetHeader>("DELETE FROM idempotency_keys WHERE id = ? AND state = 'needs_attention'", [id]);
    return result.affectedRows === 1;
  }
}
