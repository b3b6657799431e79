import { createHash, randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2';
import type { PoolConnection } from 'mysql2/promise';
import type { Pool } from '../db/pool.js';
import { query } from '../db/query.js';
import { inTransaction } from '../db/transaction.js';

export interface CreatedMerchant {
  merchantId: string;
  /** Shown once; only its SHA-256 is stored. */
  apiKey: string;
}

export interface CreatedKey {
  /** Shown once; only its SHA-256 is stored. */
  apiKey: string;
  /** The key's public name: what `listKeys` shows and `revokeKey` takes. */
  prefix: string;
}

/** What may be shown about a key: never the key, never its hash. */
export interface ApiKeyInfo {
  prefix: string;
  createdAt: Date;
  revokedAt: Date | undefined;
}

export type RevokeResult =
  | { kind: 'revoked'; revokedAt: Date }
  | { kind: 'already_revoked'; revokedAt: Date }
  | { kind: 'not_found' }
  /** More than one key of the merchant has this prefix (only possible for 12-character prefixes of old keys). */
  | { kind: 'ambiguous' };

const API_KEY_PREFIX = 'sk_live_';
/** 192 random bits. */
const API_KEY_RANDOM_BYTES = 24;
/**
 * The stored, displayable start of a key: `sk_live_` and 8 of its 32 random characters (48 of
 * 192 bits), enough to tell a merchant's keys apart and never enough to guess the rest.
 * Keys made before this was 16 stored 12 characters; they are still listed and revoked by those.
 */
const KEY_PREFIX_LENGTH = 16;

export function hashApiKey(apiKey: string): Buffer {
  return createHash('sha256').update(apiKey, 'utf8').digest();
}

function randomId(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

function newApiKey(): CreatedKey {
  const apiKey = randomId(API_KEY_PREFIX, API_KEY_RANDOM_BYTES);
  return { apiKey, prefix: apiKey.slice(0, KEY_PREFIX_LENGTH) };
}

async function insertKey(conn: PoolConnection, merchantId: string, key: CreatedKey): Promise<void> {
  await conn.query('INSERT INTO api_keys (key_hash, merchant_id, key_prefix) VALUES (?, ?, ?)', [hashApiKey(key.apiKey), merchantId, key.prefix]);
}

/**
 * Merchants and their hashed API keys.
 *
 * Revoking a key sets `revoked_at` at once, and `authenticate` refuses it from then on; a server
 * that authenticated the key shortly before may still accept it for as long as it caches the
 * lookup (the auth interceptor's cache lifetime, see docs/operations.md).
 */
export class MerchantStore {
  constructor(private readonly pool: Pool) {}

  async create(name: string): Promise<CreatedMerchant> {
    const merchantId = randomId('mer_', 12);
    const key = newApiKey();
    await inTransaction(this.pool, async (conn) => {
      await conn.query('INSERT INTO merchants (id, name) VALUES (?, ?)', [merchantId, name]);
      await insertKey(conn, merchantId, key);
    });
    return { merchantId, apiKey: key.apiKey };
  }

  async count(): Promise<number> {
    const [rows] = await this.pool.query('SELECT COUNT(*) AS n FROM merchants');
    return Number((rows as Array<{ n: string | number }>)[0]?.n ?? 0);
  }

  async exists(merchantId: string): Promise<boolean> {
    const rows = await query<RowDataPacket[]>(this.pool, 'SELECT 1 FROM merchants WHERE id = ?', [merchantId]);
    return rows.length > 0;
  }

  /** An additional live key for an existing merchant; undefined when there is no such merchant. */
  async createKey(merchantId: string): Promise<CreatedKey | undefined> {
    const key = newApiKey();
    return inTransaction(this.pool, async (conn) => {
      // The shared lock keeps the merchant from vanishing between the check and the insert.
      const [rows] = await conn.query<RowDataPacket[]>('SELECT 1 FROM merchants WHERE id = ? LOCK IN SHARE MODE', [merchantId]);
      if (rows.length === 0) return undefined;
      await insertKey(conn, merchantId, key);
      return key;
    });
  }

  /** The merchant's keys, oldest first: prefixes and dates only. */
  async listKeys(merchantId: string): Promise<ApiKeyInfo[]> {
    const rows = await query<RowDataPacket[]>(
      this.pool,
      'SELECT key_prefix, created_at, revoked_at FROM api_keys WHERE merchant_id = ? ORDER BY created_at, key_prefix',
      [merchantId],
    );
    return rows.map((row) => ({
      prefix: String(row['key_prefix']),
      createdAt: row['created_at'] as Date,
      revokedAt: (row['revoked_at'] as Date | null) ?? undefined,
    }));
  }

  /** Revokes the merchant's key with this prefix; revoking a revoked key changes nothing. */
  async revokeKey(merchantId: string, prefix: string): Promise<RevokeResult> {
    return inTransaction(this.pool, async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT key_hash, revoked_at FROM api_keys WHERE merchant_id = ? AND key_prefix = ? FOR UPDATE', [
        merchantId,
        prefix,
      ]);
      const [row, ...others] = rows;
      if (row === undefined) return { kind: 'not_found' };
      if (others.length > 0) return { kind: 'ambiguous' };
      const revokedAt = row['revoked_at'] as Date | null;
      if (revokedAt !== null) return { kind: 'already_revoked', revokedAt };
      await conn.query('UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP(6) WHERE key_hash = ?', [row['key_hash']]);
      const [after] = await conn.query<RowDataPacket[]>('SELECT revoked_at FROM api_keys WHERE key_hash = ?', [row['key_hash']]);
      return { kind: 'revoked', revokedAt: after[0]?.['revoked_at'] as Date };
    });
  }

  /** The merchant owning a live API key, or undefined. */
  async authenticate(apiKey: string): Promise<string | undefined> {
    const rows = await query<Array<{ merchant_id: string }>>(this.pool, 'SELECT merchant_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL', [
      hashApiKey(apiKey),
    ]);
    return rows[0]?.merchant_id;
  }
}
