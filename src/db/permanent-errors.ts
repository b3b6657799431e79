import { errno } from './deadlocks.js';

/**
 * Server errors that say "this statement, with these values, can never
 * succeed": data that does not fit its column, a constraint it breaks. Running
 * it again gives the same error, so a caller that already caused an external
 * side effect must stop retrying and hand the case to an operator instead of
 * treating the database as unavailable.
 */
const PERMANENT = new Set<number>([
  1048, // ER_BAD_NULL_ERROR: column cannot be null
  1062, // ER_DUP_ENTRY: a unique key (outside the claim, which handles its own 1062)
  1118, // ER_TOO_BIG_ROWSIZE
  1153, // ER_NET_PACKET_TOO_LARGE: the statement exceeds max_allowed_packet
  1264, // ER_WARN_DATA_OUT_OF_RANGE
  1265, // WARN_DATA_TRUNCATED
  1292, // ER_TRUNCATED_WRONG_VALUE: an invalid date or number
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: incorrect string value
  1406, // ER_DATA_TOO_LONG
  1451, // ER_ROW_IS_REFERENCED_2: foreign key
  1452, // ER_NO_REFERENCED_ROW_2: foreign key
  3140, // ER_INVALID_JSON_TEXT (MySQL)
  3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
  4025, // ER_CONSTRAINT_FAILED (MariaDB CHECK)
]);

export function isPermanentDataError(err: unknown): boolean {
  const n = errno(err);
  return n !== undefined && PERMANENT.has(n);
}
