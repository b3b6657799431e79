import { type KeyRecord, KeyState } from './record.js';

export interface ClaimRequest {
  method: string;
  /** True when `record` holds this request's payload (same fingerprint version and canonical payload). */
  samePayloadAs(record: KeyRecord): boolean;
}

export type Decision =
  | { kind: 'replay' }
  | { kind: 'mismatch'; what: 'method' | 'payload' }
  | { kind: 'wait'; leaseRemainingMs: number }
  | { kind: 'take_over' }
  | { kind: 'needs_attention' }
  | { kind: 'expired' };

/**
 * What to do with a request whose key is already held by `record`. Pure: the
 * clock is the database's, read with the record, so every instance decides
 * the same way for the same row.
 */
export function decide(record: KeyRecord, request: ClaimRequest): Decision {
  const now = record.dbNow.getTime();
  if (record.state === KeyState.Completed && record.expiresAt.getTime() <= now) return { kind: 'expired' };
  if (record.method !== request.method) return { kind: 'mismatch', what: 'method' };
  if (!request.samePayloadAs(record)) return { kind: 'mismatch', what: 'payload' };
  if (record.state === KeyState.Completed) return { kind: 'replay' };
  if (record.state === KeyState.NeedsAttention) return { kind: 'needs_attention' };
  const lockedUntil = record.lockedUntil?.getTime() ?? 0;
  // A holder that stopped renewing (killed, frozen) leaves its lease to be taken over at once;
  // the takeover's own condition re-checks it in the database.
  if (lockedUntil > now && record.holderGone !== true) return { kind: 'wait', leaseRemainingMs: lockedUntil - now };
  return { kind: 'take_over' };
}
