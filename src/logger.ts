import pino from 'pino';

/**
 * Structured JSON logs on stdout. `redact` is a second line of defence: code
 * never passes secrets to the logger, but if a header object slips through,
 * API keys and provider keys are still censored.
 */
export function createLogger(level: string = process.env['LOG_LEVEL'] ?? 'info'): pino.Logger {
  return pino({
    level,
    base: { service: 'payments' },
    redact: {
      paths: ['authorization', '*.authorization', 'apiKey', '*.apiKey', 'secretKey', '*.secretKey', 'api_key', '*.api_key'],
      censor: '[redacted]',
    },
  });
}

export type Logger = pino.Logger;
