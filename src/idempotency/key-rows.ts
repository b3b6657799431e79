/**
 * Rows of `idempotency_keys` as the MySQL store selects them, and the
 * records made from them: the whole row for an attempt that holds it, the
 * narrower KeyRecord for a request that finds its key taken.
 */
import type { RowDataPacket } from 'mysql2';
import { type IdempotencyRecord, type KeyRecord, KeyState, parseKeyState, parseRecoveryPoint } from './record.js';

/**
 * Every column of a row (a claim and a takeover hand the row to the attempt
 * that holds it). The request body comes along (tens of bytes): a retry that
 * sends the stored bytes is matched without hashing, and the completer
 * resumes a row from it.
 */
export const COLUMNS = `id, merchant_id, idempotency_key, method, fingerprint, fingerprint_version, request_body, state,
  recovery_point, attention_reason, locked_until, lease_version, response_code, response_message, response_body,
  response_trailers, created_at, expires_at, claim_token, NOW(6) AS db_now`;

/**
 * The columns of a KeyRecord: what a request that finds its key taken
 * decides, replays or takes over with. The read by key is the whole of a
 * replay's database work, and the driver parses every column's definition
 * of every result: the key and scope are the ones asked for, and the
 * columns only an attempt that holds the row reads stay out.
 */
export const KEY_COLUMNS = `id, method, fingerprint, fingerprint_version, request_body, state, locked_until, lease_version,
  response_code, response_message, response_body, response_trailers, expires_at, NOW(6) AS db_now`;

export interface KeyRow extends RowDataPacket {
  id: string;
  method: string;
  fingerprint: Buffer;
  fingerprint_version: number;
  request_body?: Buffer | null;
  state: string;
  locked_until: Date | null;
  lease_version: number;
  response_code: number | null;
  response_message: string | null;
  response_body: Buffer | null;
  response_trailers: Buffer | null;
  expires_at: Date;
  db_now: Date;
  /** Only a waiter's read selects it (1: the lease holder stopped renewing). */
  holder_gone?: number;
}

export interface Row extends KeyRow {
  merchant_id: string;
  idempotency_key: string;
  recovery_point: string;
  attention_reason: string | null;
  created_at: Date;
  claim_token: Buffer | null;
}

/** Most outcomes carry no trailers (`[]`): those are not parsed. */
function storedTrailers(json: Buffer | null): Array<[string, string]> {
  if (!json || json.length <= 2) return [];
  return JSON.parse(json.toString('utf8')) as Array<[string, string]>;
}

export function toKeyRecord(row: KeyRow, scope: string, key: string): KeyRecord {
  const state = parseKeyState(row.state);
  return {
    id: String(row.id),
    scope,
    key,
    method: row.method,
    fingerprint: row.fingerprint,
    fingerprintVersion: Number(row.fingerprint_version),
    requestBody: row.request_body ?? null,
    state,
    lockedUntil: row.locked_until,
    leaseVersion: Number(row.lease_version),
    response:
      state === KeyState.Completed && row.response_code !== null
        ? {
            code: Number(row.response_code),
            message: row.response_message ?? '',
            body: row.response_body,
            trailers: storedTrailers(row.response_trailers),
          }
        : null,
    expiresAt: row.expires_at,
    dbNow: row.db_now,
    ...(row.holder_gone !== undefined ? { holderGone: Number(row.holder_gone) === 1 } : {}),
  };
}

export function toRecord(row: Row): IdempotencyRecord {
  return {
    ...toKeyRecord(row, row.merchant_id, row.idempotency_key),
    recoveryPoint: parseRecoveryPoint(row.recovery_point),
    attentionReason: row.attention_reason ?? null,
    createdAt: row.created_at,
  };
}
