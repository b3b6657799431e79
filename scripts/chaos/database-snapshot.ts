/**
 * What the database holds for the chaos merchant: its idempotency rows and its
 * charges. Read with the run's own pool, after recovery.
 */
import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../../src/db/pool.js';
import { MARKER_KEY } from './workload.js';

export interface KeyRow {
  id: string;
  key: string;
  state: string;
  recoveryPoint: string;
  /** gRPC code of the stored outcome; null while in progress. */
  responseCode: number | null;
}

export interface ChargeRow {
  id: string;
  status: string;
  amount: string;
  providerReference: string;
  idempotencyKeyId: string | null;
  /** The payment's marker from the stored metadata; undefined when the metadata has none. */
  marker: string | undefined;
}

export interface DatabaseSnapshot {
  keys: KeyRow[];
  charges: ChargeRow[];
}

export async function readSnapshot(pool: Pool, merchantId: string): Promise<DatabaseSnapshot> {
  const [keyRows] = await pool.query<RowDataPacket[]>(
    'SELECT id, idempotency_key, state, recovery_point, response_code FROM idempotency_keys WHERE merchant_id = ?',
    [merchantId],
  );
  const [chargeRows] = await pool.query<RowDataPacket[]>(
    'SELECT id, status, amount, provider_reference, idempotency_key_id, metadata FROM charges WHERE merchant_id = ?',
    [merchantId],
  );
  return {
    keys: keyRows.map((r) => ({
      id: String(r['id']),
      key: String(r['idempotency_key']),
      state: String(r['state']),
      recoveryPoint: String(r['recovery_point']),
      responseCode: r['response_code'] === null ? null : Number(r['response_code']),
    })),
    charges: chargeRows.map((r) => ({
      id: String(r['id']),
      status: String(r['status']),
      amount: String(r['amount']),
      providerReference: String(r['provider_reference']),
      idempotencyKeyId: r['idempotency_key_id'] === null ? null : String(r['idempotency_key_id']),
      marker: markerOf(String(r['metadata'])),
    })),
  };
}

/** Rows of the merchant's keys in each state. */
export async function countKeyStates(pool: Pool, merchantId: string): Promise<Map<string, number>> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT state, COUNT(*) AS n FROM idempotency_keys WHERE merchant_id = ? GROUP BY state', [merchantId]);
  return new Map(rows.map((r) => [String(r['state']), Number(r['n'])]));
}

function markerOf(metadataJson: string): string | undefined {
  try {
    const metadata: unknown = JSON.parse(metadataJson);
    if (typeof metadata !== 'object' || metadata === null) return undefined;
    const marker = (metadata as Record<string, unknown>)[MARKER_KEY];
    return typeof marker === 'string' ? marker : undefined;
  } catch {
    return undefined;
  }
}
