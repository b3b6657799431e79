import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../db/pool.js';
import { query } from '../db/query.js';
import { inTransaction } from '../db/transaction.js';
import type { SqlStatement } from '../idempotency/idempotency-store.js';
import { parseChargeState, type ChargeState } from './charge-status.js';

/** A charge as stored. Amounts are minor units (validated to be safe integers). */
export interface ChargeRecord {
  id: string;
  merchantId: string;
  status: ChargeState;
  amount: number;
  amountCaptured: number;
  amountRefunded: number;
  currency: string;
  customerId: string;
  description: string;
  metadata: Record<string, string>;
  captureMethod: 'automatic' | 'manual';
  paymentMethod: string;
  failureCode: string;
  failureMessage: string;
  providerReference: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface RefundRecord {
  id: string;
  merchantId: string;
  chargeId: string;
  amount: number;
  currency: string;
  status: 'succeeded' | 'failed';
  reason: string;
  providerReference: string;
  createdAt: Date;
}

interface ChargeRow extends RowDataPacket {
  seq: string;
  id: string;
  merchant_id: string;
  status: string;
  amount: string;
  amount_captured: string;
  amount_refunded: string;
  currency: string;
  customer_id: string;
  description: string;
  metadata: string;
  capture_method: string;
  payment_method: string;
  failure_code: string;
  failure_message: string;
  provider_reference: string;
  created_at: Date;
  updated_at: Date;
}

const CHARGE_COLUMNS = `seq, id, merchant_id, status, amount, amount_captured, amount_refunded, currency, customer_id,
  description, metadata, capture_method, payment_method, failure_code, failure_message, provider_reference, created_at, updated_at`;

function toCharge(row: ChargeRow): ChargeRecord {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    status: parseChargeState(row.status),
    amount: Number(row.amount),
    amountCaptured: Number(row.amount_captured),
    amountRefunded: Number(row.amount_refunded),
    currency: row.currency,
    customerId: row.customer_id,
    description: row.description,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    captureMethod: row.capture_method === 'manual' ? 'manual' : 'automatic',
    paymentMethod: row.payment_method,
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    providerReference: row.provider_reference,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A condition appended to a write (e.g. the idempotency fence); empty means unconditional. */
export interface WriteGuard {
  sql: string;
  values: unknown[];
}

const NO_GUARD: WriteGuard = { sql: '1 = 1', values: [] };

/** SQL for charges and refunds. Writes are returned as statements so they can join a fenced transaction. */
export class ChargeRepository {
  constructor(private readonly pool: Pool) {}

  insertCharge(c: ChargeRecord, idempotencyKeyId: string | null, guard: WriteGuard = NO_GUARD): SqlStatement {
    return {
      sql: `INSERT INTO charges (id, merchant_id, idempotency_key_id, status, amount, amount_captured, amount_refunded,
              currency, customer_id, description, metadata, capture_method, payment_method, failure_code, failure_message,
              provider_reference, created_at, updated_at)
            SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL WHERE ${guard.sql}`,
      values: [
        c.id, c.merchantId, idempotencyKeyId, c.status, c.amount, c.amountCaptured, c.amountRefunded, c.currency,
        c.customerId, c.description, JSON.stringify(c.metadata), c.captureMethod, c.paymentMethod, c.failureCode,
        c.failureMessage, c.providerReference, c.createdAt, c.updatedAt, ...guard.values,
      ],
    };
  }

  /** Moves a charge from `expected` status to its new amounts and status. */
  updateCharge(c: ChargeRecord, expected: ChargeState, guard: WriteGuard = NO_GUARD): SqlStatement {
    return {
      sql: `UPDATE charges SET status = ?, amount_captured = ?, amount_refunded = ?, updated_at = ?
             WHERE id = ? AND merchant_id = ? AND status = ? AND ${guard.sql}`,
      values: [c.status, c.amountCaptured, c.amountRefunded, c.updatedAt, c.id, c.merchantId, expected, ...guard.values],
    };
  }

  /** Adds a refund to a charge, never past its captured amount. */
  refundCharge(c: ChargeRecord, refundAmount: number, guard: WriteGuard = NO_GUARD): SqlStatement {
    return {
      sql: `UPDATE charges SET amount_refunded = amount_refunded + ?,
              status = IF(amount_refunded >= amount_captured, 'refunded', 'partially_refunded'), updated_at = ?
             WHERE id = ? AND merchant_id = ? AND amount_refunded + ? <= amount_captured AND ${guard.sql}`,
      values: [refundAmount, c.updatedAt, c.id, c.merchantId, refundAmount, ...guard.values],
    };
  }

  insertRefund(r: RefundRecord, idempotencyKeyId: string | null, guard: WriteGuard = NO_GUARD): SqlStatement {
    return {
      sql: `INSERT INTO refunds (id, merchant_id, charge_id, idempotency_key_id, amount, currency, status, reason,
              provider_reference, created_at)
            SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL WHERE ${guard.sql}`,
      values: [
        r.id, r.merchantId, r.chargeId, idempotencyKeyId, r.amount, r.currency, r.status, r.reason,
        r.providerReference, r.createdAt, ...guard.values,
      ],
    };
  }

  async execute(statements: SqlStatement[]): Promise<void> {
    if (statements.length === 1 && statements[0]) {
      await query(this.pool, statements[0].sql, statements[0].values);
      return;
    }
    await inTransaction(this.pool, async (conn) => {
      for (const s of statements) await conn.query(s.sql, s.values);
    });
  }

  async findCharge(merchantId: string, id: string): Promise<ChargeRecord | undefined> {
    const rows = await query<ChargeRow[]>(this.pool, `SELECT ${CHARGE_COLUMNS} FROM charges WHERE id = ? AND merchant_id = ?`, [id, merchantId]);
    return rows[0] ? toCharge(rows[0]) : undefined;
  }

  /** Newest first, keyset-paged on `seq` so pages stay stable while new charges arrive. */
  async listCharges(
    merchantId: string,
    opts: { limit: number; beforeSeq: string | undefined; customerId: string | undefined },
  ): Promise<{ charges: ChargeRecord[]; lastSeq: string | undefined; more: boolean }> {
    const where = ['merchant_id = ?'];
    const values: unknown[] = [merchantId];
    if (opts.customerId !== undefined) {
      where.push('customer_id = ?');
      values.push(opts.customerId);
    }
    if (opts.beforeSeq !== undefined) {
      where.push('seq < ?');
      values.push(opts.beforeSeq);
    }
    const rows = await query<ChargeRow[]>(
      this.pool,
      `SELECT ${CHARGE_COLUMNS} FROM charges WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`,
      [...values, opts.limit + 1],
    );
    const more = rows.length > opts.limit;
    const page = rows.slice(0, opts.limit);
    return { charges: page.map(toCharge), lastSeq: page.at(-1)?.seq?.toString(), more };
  }
}
