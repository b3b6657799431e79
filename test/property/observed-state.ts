import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../../src/db/pool.js';
import { query } from '../../src/db/query.js';
import type { ProviderSimulator } from '../../src/simulator/simulator.js';

/** The idempotency row of one key, as the property needs it. */
export interface KeyRow {
  id: string;
  state: string;
  responseCode: number | null;
  responseBody: Buffer | null;
}

interface KeyRowPacket extends RowDataPacket {
  id: string;
  state: string;
  response_code: number | null;
  response_body: Buffer | null;
}

export async function keyRow(pool: Pool, merchantId: string, key: string): Promise<KeyRow | undefined> {
  const rows = await query<KeyRowPacket[]>(
    pool,
    'SELECT id, state, response_code, response_body FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?',
    [merchantId, key],
  );
  const r = rows[0];
  return r && { id: String(r.id), state: r.state, responseCode: r.response_code, responseBody: r.response_body };
}

/** Rows of a merchant: a refused request with no usable key must leave this unchanged. */
export async function keyRowCount(pool: Pool, merchantId: string): Promise<number> {
  const rows = await query<(RowDataPacket & { n: string })[]>(pool, 'SELECT COUNT(*) AS n FROM idempotency_keys WHERE merchant_id = ?', [merchantId]);
  return Number(rows[0]?.n ?? 0);
}

export async function chargeRowsOfKey(pool: Pool, keyRowId: string): Promise<number> {
  const rows = await query<(RowDataPacket & { n: string })[]>(pool, 'SELECT COUNT(*) AS n FROM charges WHERE idempotency_key_id = ?', [keyRowId]);
  return Number(rows[0]?.n ?? 0);
}

export interface RefundRow {
  id: string;
  charge_id: string;
  amount: string;
  currency: string;
  provider_reference: string;
  idempotency_key_id: string | null;
}

export async function refundRow(pool: Pool, merchantId: string, id: string): Promise<RefundRow | undefined> {
  const rows = await query<(RowDataPacket & RefundRow)[]>(
    pool,
    'SELECT id, charge_id, amount, currency, provider_reference, idempotency_key_id FROM refunds WHERE merchant_id = ? AND id = ?',
    [merchantId, id],
  );
  const r = rows[0];
  return r && { ...r, amount: String(r.amount), idempotency_key_id: r.idempotency_key_id === null ? null : String(r.idempotency_key_id) };
}

/** What the provider has done so far: requests received and objects created. */
export interface ProviderCounts {
  requests: number;
  paymentIntents: number;
  refunds: number;
}

export function providerCounts(sim: ProviderSimulator): ProviderCounts {
  const s = sim.stats();
  return { requests: s.requests, paymentIntents: s.paymentIntentsCreated, refunds: s.refundsCreated };
}

/** The provider's view of one PaymentIntent, or undefined when it has none by that id. */
export function paymentIntentState(sim: ProviderSimulator, id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const pi = sim.paymentIntents().find((p) => p.id === id);
  return pi && JSON.stringify([pi.status, pi.amount_capturable, pi.amount_received]);
}
