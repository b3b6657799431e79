/**
 * Reading the form parameters of the simulator's Stripe API requests, with Stripe's validation
 * rules. A parameter that breaks one throws ValidationFailure, which the ledger answers as a 400
 * `invalid_request_error` naming the parameter.
 */

/** Stripe rejects amounts above eight digits. */
const MAX_AMOUNT = 99_999_999;

/** A request parameter Stripe would refuse: `param` is its name, `code` Stripe's error code. */
export class ValidationFailure extends Error {
  constructor(
    readonly param: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function assertKnownParams(params: URLSearchParams, allowed: readonly string[], allowMetadata: boolean): void {
  for (const name of params.keys()) {
    if (allowed.includes(name) || (allowMetadata && /^metadata\[[^\]]+\]$/.test(name))) continue;
    throw new ValidationFailure(name, 'parameter_unknown', `Received unknown parameter: ${name}`);
  }
}

export function optionalInteger(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw new ValidationFailure(name, 'parameter_invalid_integer', `Invalid integer: ${raw}`);
  const value = Number(raw);
  if (value < 1) throw new ValidationFailure(name, 'parameter_invalid_integer', `This value must be greater than or equal to 1.`);
  if (value > MAX_AMOUNT) throw new ValidationFailure(name, 'amount_too_large', `Amount must be no more than ${MAX_AMOUNT}.`);
  return value;
}

export function required(params: URLSearchParams, name: string): string {
  const raw = params.get(name);
  if (raw === null || raw === '') throw new ValidationFailure(name, 'parameter_missing', `Missing required param: ${name}.`);
  return raw;
}

/** Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500. */
const MAX_METADATA_KEYS = 50;
const MAX_METADATA_KEY_LENGTH = 40;
const MAX_METADATA_VALUE_LENGTH = 500;

export function metadataOf(params: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of params) {
    const match = /^metadata\[([^\]]+)\]$/.exec(name);
    if (match?.[1] === undefined) continue;
    if ([...match[1]].length > MAX_METADATA_KEY_LENGTH || [...value].length > MAX_METADATA_VALUE_LENGTH) {
      throw new ValidationFailure(
        name,
        'parameter_invalid_string',
        `Metadata keys can be up to ${MAX_METADATA_KEY_LENGTH} characters and values up to ${MAX_METADATA_VALUE_LENGTH}.`,
      );
    }
    metadata[match[1]] = value;
  }
  if (Object.keys(metadata).length > MAX_METADATA_KEYS) {
    throw new ValidationFailure('metadata', 'parameter_invalid_string', `You can specify up to ${MAX_METADATA_KEYS} keys in metadata.`);
  }
  return metadata;
}

/** `limit` of a list or search: 1 to 100, default 10. */
export function listLimit(params: URLSearchParams): number {
  const raw = params.get('limit');
  if (raw === null) return 10;
  const n = Number(raw);
  if (!/^\d{1,3}$/.test(raw) || n < 1 || n > 100) throw new ValidationFailure('limit', 'parameter_invalid_integer', 'limit must be from 1 to 100.');
  return n;
}

/** `metadata['k']:'v' AND ...` into [k, v] pairs; quotes and backslashes inside are escaped with a backslash. */
export function parseMetadataQuery(query: string): Array<[string, string]> {
  const quoted = String.raw`'((?:[^'\\]|\\.)*)'`;
  // Sticky: each clause must start exactly where the previous one ended, so text inside quotes
  // (an " AND " in a value, say) is never read as syntax.
  const clause = new RegExp(String.raw`metadata\[${quoted}\]:${quoted}(?: AND |$)`, 'y');
  const unescapeQuoted = (text: string): string => text.replace(/\\(.)/g, '$1');
  const pairs: Array<[string, string]> = [];
  while (clause.lastIndex < query.length) {
    const match = clause.exec(query);
    if (match?.[1] === undefined || match[2] === undefined) {
      throw new ValidationFailure('query', 'parameter_invalid_string', `This simulator only searches exact metadata clauses, got: ${query.slice(0, 200)}`);
    }
    pairs.push([unescapeQuoted(match[1]), unescapeQuoted(match[2])]);
  }
  if (pairs.length === 0) throw new ValidationFailure('query', 'parameter_missing', 'Missing required param: query.');
  return pairs;
}
