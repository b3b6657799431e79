import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from '../db/pool.js';
import { query } from '../db/query.js';
import { inTransaction } from '../db/transaction.js';

export interface CreatedMerchant {
  merchantId: string;
  /** Shown once; only its SHA-256 is stored. */
  apiKey: string;
}

const API_KEY_PREFIX = 'sk_live_';

export function hashApiKey(apiKey: string): Buffer {
  return createHash('sha256').update(apiKey, 'utf8').digest();
}

function randomId(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

/** Merchants and their hashed API keys. */
export class MerchantStore {
  constructor(private readonly pool: Pool) {}

  async create(name: string): Promise<CreatedMerchant> {
    const merchantId = randomId('mer_', 12);
    const apiKey = randomId(API_KEY_PREFIX, 24);
    await inTransaction(this.pool, async (conn) => {
      await conn.query('INSERT INTO merchants (id, name) VALUES (?, ?)', [merchantId, name]);
      await conn.query('INSERT INTO api_keys (key_hash, merchant_id, key_prefix) VALUES (?, ?, ?)', [hashApiKey(apiKey), merchantId, apiKey.slice(0, 12)]);
    });
    return { merchantId, apiKey };
  }

  async count(): Promise<number> {
    const [rows] = await this.pool.query('SELECT COUNT(*) AS n FROM merchants');
    return Number((rows as Array<{ n: string | number }>)[0]?.n ?? 0);
  }

  /** The merchant owning a live API key, or undefined. */
  async authenticate(apiKey: string): Promise<string | undefined> {
    const rows = await query<Array<{ merchant_id: string }>>(this.pool, 'SELECT merchant_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL', [
      hashApiKey(apiKey),
    ]);
    return rows[0]?.merchant_id;
  }
}
