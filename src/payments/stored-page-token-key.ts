import { randomBytes } from 'node:crypto';
import type { SqlStatement } from '../idempotency/idempotency-store.js';
import { PAGE_TOKEN_KEY_BYTES } from './page-token.js';

/** Anything that runs statements in one transaction (ChargeRepository does). */
export interface StatementRunner {
  execute(statements: SqlStatement[]): Promise<unknown[]>;
}

const SECRET_NAME = 'page_token_key';

/**
 * The page token key kept in the database (table `server_secrets`), created on first use.
 *
 * Used when PAYMENTS_PAGE_TOKEN_KEY is not configured. Every instance sharing the database
 * reads the same key, so a token issued by one instance works on all of them and across
 * restarts. Both statements are idempotent: of several instances racing to create the key, the
 * first INSERT wins and the others' duplicate-key no-op leaves it in place, and each then reads
 * the winner's value. Whoever can read this table can forge page tokens, but such a reader can
 * already read every charge, so tokens reveal nothing more to them.
 */
export async function storedPageTokenKey(db: StatementRunner): Promise<Buffer> {
  const [, rows] = await db.execute([
    {
      // `name = name` makes the duplicate a no-op (a plain INSERT would fail the transaction).
      sql: 'INSERT INTO server_secrets (name, secret) VALUES (?, ?) ON DUPLICATE KEY UPDATE name = name',
      values: [SECRET_NAME, randomBytes(PAGE_TOKEN_KEY_BYTES)],
    },
    { sql: 'SELECT secret FROM server_secrets WHERE name = ?', values: [SECRET_NAME] },
  ]);
  const secret = (rows as Array<{ secret: Buffer }> | undefined)?.[0]?.secret;
  if (secret === undefined || secret.length !== PAGE_TOKEN_KEY_BYTES) {
    throw new Error(`server_secrets.${SECRET_NAME} is missing or not ${PAGE_TOKEN_KEY_BYTES} bytes`);
  }
  return secret;
}
