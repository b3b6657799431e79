/** What the database holds once a strategy's run has gone quiet. */
import { setTimeout as delay } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2';
import type { Pool } from '../../../src/db/pool.js';
import type { ProviderSimulator } from '../../../src/simulator/simulator.js';

/**
 * After the last round, servers may still finish calls their clients gave up
 * on. The run is settled once neither the provider nor the charges table has
 * changed for QUIET_MS (longer than the slowest provider call plus its writes).
 */
const QUIET_MS = 500;
const SETTLE_POLL_MS = 50;
export const SETTLE_DEADLINE_MS = 30_000;

interface ChargeRow extends RowDataPacket {
  id: string;
  provider_reference: string;
  seq: string;
}

/** Charge id → provider reference, for one merchant. */
export async function readCharges(pool: Pool, merchantId: string): Promise<Map<string, string>> {
  const [rows] = await pool.query<ChargeRow[]>('SELECT id, provider_reference FROM charges WHERE merchant_id = ?', [merchantId]);
  return new Map(rows.map((r) => [r.id, r.provider_reference]));
}

/** Waits until neither the provider nor the merchant's charges change for QUIET_MS (bounded). */
export async function settle(sim: ProviderSimulator, pool: Pool, merchantId: string): Promise<boolean> {
  const signature = async (): Promise<string> => {
    const [rows] = await pool.query<ChargeRow[]>('SELECT MAX(seq) AS seq FROM charges WHERE merchant_id = ?', [merchantId]);
    const stats = sim.stats();
    return `${stats.requests}/${stats.paymentIntentsCreated}/${rows[0]?.seq ?? ''}`;
  };
  const deadline = Date.now() + SETTLE_DEADLINE_MS;
  let last = await signature();
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await delay(SETTLE_POLL_MS);
    const now = await signature();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= QUIET_MS) {
      return true;
    }
  }
  return false;
}
