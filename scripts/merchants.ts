/**
 * Admin command for merchants.
 *
 *   npm run -s merchants -- create --name NAME
 *
 * Prints exactly one JSON line `{"merchant_id": "...", "api_key": "..."}` on stdout (the key is
 * shown only here; the database keeps its hash). Progress and errors go to stderr.
 *
 * The database is MYSQL_URL when set; otherwise the private instance `npm start` uses under
 * `$PAYMENTS_DATA_DIR/mysql` (default `.data/mysql`): a running one is reused and left running,
 * a stopped one is started for this command and stopped again afterwards.
 *
 * Exit status: 0 on success, 1 when the database or the insert fails, 2 for usage errors.
 */
import { parseArgs } from 'node:util';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { withCommandDatabase } from './command-database.js';

/** The `merchants.name` column is VARCHAR(200). */
const MAX_NAME_LENGTH = 200;

const USAGE = `Usage: npm run -s merchants -- create --name NAME

Creates a merchant and prints its API key once, as one JSON line:
  {"merchant_id": "mer_...", "api_key": "sk_live_..."}

Database: MYSQL_URL when set, else the private instance of \`npm start\` under
$PAYMENTS_DATA_DIR/mysql (default .data/mysql).

Options:
  --name NAME   the merchant's display name (required, at most ${MAX_NAME_LENGTH} characters)
  -h, --help    show this help
`;

class UsageError extends Error {
  override name = 'UsageError';
}

interface Command {
  kind: 'create';
  name: string;
}

function parseCommand(argv: string[]): Command | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (parsed.values.help) return 'help';
  const [command, ...extra] = parsed.positionals;
  if (command === undefined) throw new UsageError('missing command (expected "create")');
  if (command !== 'create') throw new UsageError(`unknown command "${command}" (expected "create")`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const name = parsed.values.name?.trim();
  if (name === undefined || name === '') throw new UsageError('create needs --name NAME');
  if (name.length > MAX_NAME_LENGTH) throw new UsageError(`--name must be at most ${MAX_NAME_LENGTH} characters`);
  return { kind: 'create', name };
}

async function createMerchant(name: string): Promise<void> {
  await withCommandDatabase(async (pool) => {
    const merchant = await new MerchantStore(pool).create(name);
    process.stdout.write(`${JSON.stringify({ merchant_id: merchant.merchantId, api_key: merchant.apiKey })}\n`);
  });
}

async function main(argv: string[]): Promise<number> {
  let command: Command | 'help';
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`merchants: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  await createMerchant(command.name);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`merchants: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
