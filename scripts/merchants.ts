/**
 * Admin command for merchants and their API keys.
 *
 *   npm run -s merchants -- create --name NAME
 *   npm run -s merchants -- keys list --merchant MERCHANT_ID
 *   npm run -s merchants -- keys create --merchant MERCHANT_ID
 *   npm run -s merchants -- keys revoke --merchant MERCHANT_ID --prefix KEY_PREFIX
 *
 * Each prints exactly one JSON line on stdout. An API key is printed only by `create` and
 * `keys create`, once (the database keeps its SHA-256); `keys list` shows prefixes and dates
 * only. Progress and errors go to stderr.
 *
 * The database is MYSQL_URL when set; otherwise the private instance `npm start` uses under
 * `$PAYMENTS_DATA_DIR/mysql` (default `.data/mysql`): a running one is reused and left running,
 * a stopped one is started for this command and stopped again afterwards.
 *
 * Exit status: 0 on success, 1 when the database fails or the merchant or key does not exist,
 * 2 for usage errors.
 */
import { parseArgs } from 'node:util';
import { type ApiKeyInfo, MerchantStore } from '../src/merchants/merchant-store.js';
import { withCommandDatabase } from './command-database.js';

/** The `merchants.name` column is VARCHAR(200). */
const MAX_NAME_LENGTH = 200;
/** `merchants.id` is VARCHAR(40), `api_keys.key_prefix` VARCHAR(16). */
const MAX_MERCHANT_ID_LENGTH = 40;
const MAX_PREFIX_LENGTH = 16;

const USAGE = `Usage: npm run -s merchants -- create --name NAME
       npm run -s merchants -- keys list --merchant MERCHANT_ID
       npm run -s merchants -- keys create --merchant MERCHANT_ID
       npm run -s merchants -- keys revoke --merchant MERCHANT_ID --prefix KEY_PREFIX

create        creates a merchant and prints its first API key once:
                {"merchant_id": "mer_...", "api_key": "sk_live_..."}
keys list     prints the merchant's keys, prefixes and dates only:
                {"merchant_id": "mer_...", "keys": [{"prefix": "sk_live_...", "created_at": "...", "revoked_at": null}]}
keys create   adds an API key to the merchant and prints it once:
                {"merchant_id": "mer_...", "api_key": "sk_live_...", "prefix": "sk_live_..."}
keys revoke   revokes the merchant's key with that prefix (again: no change):
                {"merchant_id": "mer_...", "prefix": "sk_live_...", "revoked_at": "...", "already_revoked": false}
              Servers refuse a revoked key within the auth cache lifetime (30 s; see docs/operations.md).

Database: MYSQL_URL when set, else the private instance of \`npm start\` under
$PAYMENTS_DATA_DIR/mysql (default .data/mysql).

Options:
  --name NAME            the merchant's display name (at most ${MAX_NAME_LENGTH} characters)
  --merchant ID          the merchant ("mer_...")
  --prefix KEY_PREFIX    the key's prefix as \`keys list\` shows it
  -h, --help             show this help
`;

class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the operator can act on (exit 1, message on stderr). */
class CommandError extends Error {
  override name = 'CommandError';
}

type Command =
  | { kind: 'create'; name: string }
  | { kind: 'keys list'; merchantId: string }
  | { kind: 'keys create'; merchantId: string }
  | { kind: 'keys revoke'; merchantId: string; prefix: string };

const OPTIONS_OF: Record<Command['kind'], readonly string[]> = {
  create: ['name'],
  'keys list': ['merchant'],
  'keys create': ['merchant'],
  'keys revoke': ['merchant', 'prefix'],
};

function parseCommand(argv: string[]): Command | 'help' {
  const config = {
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      name: { type: 'string' },
      merchant: { type: 'string' },
      prefix: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (parsed.values.help) return 'help';
  const [command, sub, ...extra] = parsed.positionals;
  if (command === undefined) throw new UsageError('missing command (expected "create" or "keys")');
  if (command !== 'create' && command !== 'keys') throw new UsageError(`unknown command "${command}" (expected "create" or "keys")`);
  let kind: Command['kind'];
  if (command === 'create') {
    if (sub !== undefined) throw new UsageError(`unexpected argument "${sub}"`);
    kind = 'create';
  } else {
    if (sub === undefined) throw new UsageError('keys needs a subcommand: list, create or revoke');
    if (sub !== 'list' && sub !== 'create' && sub !== 'revoke') throw new UsageError(`unknown keys subcommand "${sub}" (expected list, create or revoke)`);
    kind = `keys ${sub}`;
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const allowed = OPTIONS_OF[kind];
  for (const option of ['name', 'merchant', 'prefix'] as const) {
    if (parsed.values[option] !== undefined && !allowed.includes(option)) throw new UsageError(`${kind} does not take --${option}`);
  }

  if (kind === 'create') {
    const name = parsed.values.name?.trim();
    if (name === undefined || name === '') throw new UsageError('create needs --name NAME');
    if (name.length > MAX_NAME_LENGTH) throw new UsageError(`--name must be at most ${MAX_NAME_LENGTH} characters`);
    return { kind, name };
  }
  const merchantId = parsed.values.merchant?.trim();
  if (merchantId === undefined || merchantId === '') throw new UsageError(`${kind} needs --merchant MERCHANT_ID`);
  if (merchantId.length > MAX_MERCHANT_ID_LENGTH) throw new UsageError(`--merchant must be at most ${MAX_MERCHANT_ID_LENGTH} characters`);
  if (kind !== 'keys revoke') return { kind, merchantId };
  const prefix = parsed.values.prefix?.trim();
  if (prefix === undefined || prefix === '') throw new UsageError('keys revoke needs --prefix KEY_PREFIX (see keys list)');
  if (prefix.length > MAX_PREFIX_LENGTH) {
    // Likely a whole key pasted in: say so without echoing it.
    throw new UsageError(`--prefix must be at most ${MAX_PREFIX_LENGTH} characters (the prefix keys list shows, not the key)`);
  }
  return { kind, merchantId, prefix };
}

function keyJson(key: ApiKeyInfo): Record<string, string | null> {
  return { prefix: key.prefix, created_at: key.createdAt.toISOString(), revoked_at: key.revokedAt?.toISOString() ?? null };
}

async function run(command: Command, store: MerchantStore): Promise<Record<string, unknown>> {
  switch (command.kind) {
    case 'create': {
      const merchant = await store.create(command.name);
      return { merchant_id: merchant.merchantId, api_key: merchant.apiKey };
    }
    case 'keys list': {
      if (!(await store.exists(command.merchantId))) throw new CommandError(`no merchant ${command.merchantId}`);
      return { merchant_id: command.merchantId, keys: (await store.listKeys(command.merchantId)).map(keyJson) };
    }
    case 'keys create': {
      const key = await store.createKey(command.merchantId);
      if (key === undefined) throw new CommandError(`no merchant ${command.merchantId}`);
      return { merchant_id: command.merchantId, api_key: key.apiKey, prefix: key.prefix };
    }
    case 'keys revoke': {
      const result = await store.revokeKey(command.merchantId, command.prefix);
      if (result.kind === 'not_found') throw new CommandError(`merchant ${command.merchantId} has no key with prefix ${command.prefix} (see keys list)`);
      if (result.kind === 'ambiguous') {
        throw new CommandError(
          `merchant ${command.merchantId} has several keys with prefix ${command.prefix}; revoke them from the database or create a new key first`,
        );
      }
      return {
        merchant_id: command.merchantId,
        prefix: command.prefix,
        revoked_at: result.revokedAt.toISOString(),
        already_revoked: result.kind === 'already_revoked',
      };
    }
  }
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
  const ready = command;
  try {
    const output = await withCommandDatabase((pool) => run(ready, new MerchantStore(pool)));
    process.stdout.write(`${JSON.stringify(output)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    process.stderr.write(`merchants: ${err.message}\n`);
    return 1;
  }
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
