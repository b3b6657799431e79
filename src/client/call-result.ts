/** Response header the server sets when it replays the stored outcome of an earlier attempt. */
export const REPLAYED_HEADER = 'idempotent-replayed';
/** Response header with the key's expiry (RFC 3339): a retry after it runs as a new call. */
export const EXPIRES_AT_HEADER = 'idempotency-expires-at';

/** A successful call: the response and how it came about. */
export interface CallResult<Res> {
  response: Res;
  /**
   * True when the server answered with the stored outcome of an earlier attempt (this call's own
   * earlier attempt after a lost answer, or an earlier call with the same key).
   */
  replayed: boolean;
  /** The key every attempt carried; undefined for reads, which need none. */
  idempotencyKey: string | undefined;
  /** When the server forgets the key (from `idempotency-expires-at`); undefined for reads. */
  idempotencyExpiresAt: Date | undefined;
  /** Attempts it took, 1 when the first one succeeded. */
  attempts: number;
}
