import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../db/pool.js';
import { execute, query } from '../db/query.js';
import { inTransaction } from '../db/transaction.js';
import type { SqlStatement } from '../idempotency/idempotency-store.js';
import { type ChargeState, parseChargeState } from './charge-status.js';

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
  /** Stripe's error code (`card_declined`, `expired_card`, ...). */
  failureCode: string;
  /** Stripe's decline code (`generic_decline`, `insufficient_funds`, ...). */
  declineCode: string;
  failureMessage: string;
  providerReference: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Widths (in code points: utf8mb4 VARCHAR counts characters) of the columns that take text from
 * the provider. Provider text is cut to these before it is stored (see truncateCodePoints).
 */
export const PROVIDER_TEXT_COLUMNS = {
  failureCode: 64,
  declineCode: 64,
  failureMessage: 500,
  providerReference: 255,
} as const;

/** `pending` refunds count toward the charge's amount_refunded (as at Stripe); `failed` ones do not. */
export type RefundState = 'succeeded' | 'pending' | 'failed';

export interface RefundRecord {
  id: string;
  merchantId: string;
  chargeId: string;
  amount: number;
  currency: string;
  status: RefundState;
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
  decline_code: string;
  failure_message: string;
  provider_reference: string;
  created_at: Date;
  updated_at: Date;
}

const CHARGE_COLUMNS = `seq, id, merchant_id, status, amount, amount_captured, amount_refunded, currency, customer_id,
  description, metadata, capture_method, payment_method, failure_code, decline_code, failure_message, provider_reference, created_at, updated_at`;

const FIND_CHARGE = `SELECT ${CHARGE_COLUMNS} FROM charges WHERE id = ? AND merchant_id = ?`;

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
    declineCode: row.decline_code,
    failureMessage: row.failure_message,
    providerReference: row.provider_reference,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The condition every write carries: the idempotency fence of the claim it is made under (see GuardedWrite). */
export interface WriteGuard {
  sql: string;
  values: unknown[];
}

/** Session variable: whether the refund's charge update matched, so the refund row is written only then. */
const REFUND_APPLIED = '@refund_charge_applied';

interface RefundRow extends RowDataPacket {
  id: string;
  merchant_id: string;
  charge_id: string;
  amount: string;
  currency: string;
  status: string;
  reason: string;
  provider_reference: string;
  created_at: Date;
}

const REFUND_STATES: readonly string[] = ['succeeded', 'pending', 'failed'] satisfies RefundState[];

function parseRefundState(value: string): RefundState {
  if (!REFUND_STATES.includes(value)) throw new Error(`unknown refund state "${value}"`);
  return value as RefundState;
}

/** SQL for charges and refunds. Writes are returned as statements so they can join a fenced transaction. */
export class ChargeRepository {
  constructor(private readonly pool: Pool) {}

  insertCharge(c: ChargeRecord, idempotencyKeyId: string | null, guard: WriteGuard): SqlStatement {
    return {
      sql: `INSERT INTO charges (id, merchant_id, idempotency_key_id, status, amount, amount_captured, amount_refunded,
              currency, customer_id, description, metadata, capture_method, payment_method, failure_code, decline_code,
              failure_message, provider_reference, created_at, updated_at)
            SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL WHERE ${guard.sql}`,
      values: [
        c.id,
        c.merchantId,
        idempotencyKeyId,
        c.status,
        c.amount,
        c.amountCaptured,
        c.amountRefunded,
        c.currency,
        c.customerId,
        c.description,
        JSON.stringify(c.metadata),
        c.captureMethod,
        c.paymentMethod,
        c.failureCode,
        c.declineCode,
        c.failureMessage,
        c.providerReference,
        c.createdAt,
        c.updatedAt,
        ...guard.values,
      ],
    };
  }

  /** Moves a charge from `expected` status to its new amounts and status. */
  updateCharge(c: ChargeRecord, expected: ChargeState, guard: WriteGuard): SqlStatement {
    return {
      sql: `UPDATE charges SET status = ?, amount_captured = ?, amount_refunded = ?, updated_at = ?
             WHERE id = ? AND merchant_id = ? AND status = ? AND ${guard.sql}`,
      values: [c.status, c.amountCaptured, c.amountRefunded, c.updatedAt, c.id, c.merchantId, expected, ...guard.values],
    };
  }

  /**
   * Adds a refund to a captured charge, never past its captured amount, and sets
   * `REFUND_APPLIED` to whether it matched (its affected rows, read by the next statement).
   * Single-table UPDATE assignments run left to right, so the status sees the new amount.
   */
  refundCharge(c: ChargeRecord, refundAmount: number, guard: WriteGuard): SqlStatement {
    return {
      sql: `UPDATE charges SET amount_refunded = amount_refunded + ?,
              status = IF(amount_refunded >= amount_captured, 'refunded', 'partially_refunded'), updated_at = ?
             WHERE id = ? AND merchant_id = ? AND status IN ('succeeded', 'partially_refunded')
               AND amount_refunded + ? <= amount_captured AND ${guard.sql}`,
      values: [refundAmount, c.updatedAt, c.id, c.merchantId, refundAmount, ...guard.values],
    };
  }

  /**
   * Keeps whether the statement just before it changed exactly one row, for a later statement of
   * the same transaction (ROW_COUNT() only reaches the next statement).
   */
  rememberRowCount(guard: WriteGuard): SqlStatement {
    return { sql: `SET ${REFUND_APPLIED} = (ROW_COUNT() = 1 AND ${guard.sql})`, values: [...guard.values] };
  }

  /** The charge as this transaction sees it (after its own updates): the snapshot an answer is built from. */
  selectCharge(merchantId: string, id: string, guard: WriteGuard): SqlStatement {
    return { sql: `SELECT ${CHARGE_COLUMNS} FROM charges WHERE id = ? AND merchant_id = ? AND ${guard.sql}`, values: [id, merchantId, ...guard.values] };
  }

  /** The charge of a snapshot statement's result (undefined when it returned no row). */
  chargeOfResult(result: unknown): ChargeRecord | undefined {
    const rows = result as ChargeRow[] | undefined;
    return rows?.[0] ? toCharge(rows[0]) : undefined;
  }

  /** Inserts a refund; with `onlyIfApplied`, only when the refundCharge before it matched (see rememberRowCount). */
  insertRefund(r: RefundRecord, idempotencyKeyId: string | null, guard: WriteGuard, onlyIfApplied = false): SqlStatement {
    return {
      sql: `INSERT INTO refunds (id, merchant_id, charge_id, idempotency_key_id, amount, currency, status, reason,
              provider_reference, created_at)
            SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL WHERE ${onlyIfApplied ? `${REFUND_APPLIED} = 1 AND ` : ''}${guard.sql}`,
      values: [r.id, r.merchantId, r.chargeId, idempotencyKeyId, r.amount, r.currency, r.status, r.reason, r.providerReference, r.createdAt, ...guard.values],
    };
  }

  /** Runs the statements in one transaction (one statement: autocommit); resolves with each one's result in order. */
  async execute(statements: SqlStatement[]): Promise<unknown[]> {
    if (statements.length === 1 && statements[0]) {
      return [await query<unknown>(this.pool, statements[0].sql, statements[0].values)];
    }
    return inTransaction(this.pool, async (conn) => {
      const results: unknown[] = [];
      for (const s of statements) results.push((await conn.query(s.sql, s.values))[0]);
      return results;
    });
  }

  /** The refund an idempotency key recorded (for an attempt resumed after its rows were committed). */
  async findRefundByKey(merchantId: string, idempotencyKeyId: string): Promise<RefundRecord | undefined> {
    const rows = await query<RefundRow[]>(
      this.pool,
      `SELECT id, merchant_id, charge_id, amount, currency, status, reason, provider_reference, created_at
         FROM refunds WHERE idempotency_key_id = ? AND merchant_id = ?`,
      [idempotencyKeyId, merchantId],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      id: row.id,
      merchantId: row.merchant_id,
      chargeId: row.charge_id,
      amount: Number(row.amount),
      currency: row.currency,
      status: parseRefundState(row.status),
      reason: row.reason,
      providerReference: row.provider_reference,
      createdAt: row.created_at,
    };
  }

  async findCharge(merchantId: string, id: string): Promise<ChargeRecord | undefined> {
    // A prepared statement, as the replay's read of its key (src/db/query.ts: execute).
    const rows = await execute<ChargeRow[]>(this.pool, FIND_CHARGE, [id, merchantId]);
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
    const rows = await query<ChargeRow[]>(this.pool, `SELECT ${CHARGE_COLUMNS} FROM charges WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`, [
      ...values,
      opts.limit + 1,
    ]);
    const more = rows.length > opts.limit;
    const page = rows.slice(0, opts.limit);
    return { charges: page.map(toCharge), lastSeq: page.at(-1)?.seq?.toString(), more };
  }
}
