import pino from 'pino';

/** How deep a chain of `cause`s is followed in a logged error. */
const MAX_CAUSE_DEPTH = 3;

/**
 * The one redaction point of every log line. Errors are logged through
 * `safeError`: a database driver error keeps its codes only, because its
 * message and `sql` quote the statement's values (a customer's metadata, a
 * stored response, an idempotency key); other errors keep their message and
 * stack. Field paths that could carry secrets, keys or customer data are
 * censored as a second line of defence: code never passes them to the logger.
 */
export function safeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err };
  const e = err as Error & { code?: unknown; errno?: unknown; sqlState?: unknown; sql?: unknown; fatal?: unknown };
  // What only the driver (or a socket under it) sets; see src/db/driver-error.ts.
  const driver =
    e.sql !== undefined ||
    e.sqlState !== undefined ||
    typeof e.errno === 'number' ||
    typeof e.fatal === 'boolean' ||
    (typeof e.code === 'string' && e.code.startsWith('PROTOCOL_'));
  const out: Record<string, unknown> = { type: e.name };
  if (typeof e.code === 'string' || typeof e.code === 'number') out['code'] = e.code;
  if (typeof e.errno === 'number') out['errno'] = e.errno;
  if (typeof e.sqlState === 'string') out['sqlState'] = e.sqlState;
  if (typeof e.fatal === 'boolean') out['fatal'] = e.fatal;
  if (!driver) {
    out['message'] = e.message;
    out['stack'] = e.stack;
  }
  if (e.cause !== undefined && depth < MAX_CAUSE_DEPTH) out['cause'] = safeError(e.cause, depth + 1);
  return out;
}

export const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'apiKey',
  '*.apiKey',
  'secretKey',
  '*.secretKey',
  'api_key',
  '*.api_key',
  'idempotencyKey',
  '*.idempotencyKey',
  'key',
  'metadata',
  '*.metadata',
  'body',
  '*.body',
  'request',
  'sql',
  '*.sql',
  'values',
];

export function createLogger(level: string = process.env['LOG_LEVEL'] ?? 'info', destination?: pino.DestinationStream): pino.Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'payments' },
    serializers: { err: (err: unknown) => safeError(err), error: (err: unknown) => safeError(err) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type Logger = pino.Logger;
