/**
 * Operator command for idempotency keys parked in `needs_attention`.
 *
 *   npm run -s keys -- attention [--limit N]   list parked keys, one JSON object a line
 *   npm run -s keys -- retry --id ID           resume a parked key (after fixing its cause)
 *   npm run -s keys -- release --id ID         delete a parked key (after checking the provider)
 *
 * Database: MYSQL_URL when set, else the private instance of `npm start` (see command-database.ts).
 * Exit status: 0 on success, 1 when the database fails or the key is not parked, 2 for usage errors.
 */
import { parseArgs } from 'node:util';
import { ParkedKeys } from '../src/idempotency/parked-keys.js';
import { withCommandDatabase } from './command-database.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

const USAGE = `Usage:
  npm run -s keys -- attention [--limit N]   list keys parked in needs_attention (JSON lines)
  npm run -s keys -- retry --id ID           hand a parked key back to the background completer,
                                             which resumes it with the same provider key
  npm run -s keys -- release --id ID         delete a parked key so the client's retry runs anew
                                             (only after checking nothing was charged)

A key is parked when the provider may have acted but the outcome could not be
stored or decided automatically; clients get FAILED_PRECONDITION with reason
IDEMPOTENCY_KEY_NEEDS_ATTENTION until it is resolved.

Database: MYSQL_URL when set, else the private instance of \`npm start\` under
$PAYMENTS_DATA_DIR/mysql (default .data/mysql).
`;

class UsageError extends Error {
  override name = 'UsageError';
}

type Command = { kind: 'attention'; limit: number } | { kind: 'retry' | 'release'; id: string };

function parseCommand(argv: string[]): Command | 'help' {
  const config = {
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { id: { type: 'string' }, limit: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (parsed.values.help) return 'help';
  const [command, ...extra] = parsed.positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (command === 'attention') {
    const raw = parsed.values.limit ?? String(DEFAULT_LIMIT);
    if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_LIMIT) throw new UsageError(`--limit must be from 1 to ${MAX_LIMIT}`);
    return { kind: 'attention', limit: Number(raw) };
  }
  if (command === 'retry' || command === 'release') {
    const id = parsed.values.id;
    if (id === undefined || !/^[0-9]{1,20}$/.test(id)) throw new UsageError(`${command} needs --id ID (the numeric id that "attention" lists)`);
    return { kind: command, id };
  }
  throw new UsageError(command === undefined ? 'missing command' : `unknown command "${command}"`);
}

async function run(command: Command): Promise<number> {
  return withCommandDatabase(async (pool) => {
    const parked = new ParkedKeys(pool);
    if (command.kind === 'attention') {
      const keys = await parked.list(command.limit);
      for (const k of keys) {
        process.stdout.write(
          `${JSON.stringify({ id: k.id, merchant_id: k.merchantId, idempotency_key: k.idempotencyKey, method: k.method, recovery_point: k.recoveryPoint, reason: k.reason, created_at: k.createdAt.toISOString() })}\n`,
        );
      }
      process.stderr.write(`${keys.length} key(s) need attention${keys.length === command.limit ? ' (limit reached: raise --limit)' : ''}\n`);
      return 0;
    }
    const done = command.kind === 'retry' ? await parked.retry(command.id) : await parked.release(command.id);
    if (!done) {
      process.stderr.write(`keys: no parked key with id ${command.id} (already resolved, or never parked)\n`);
      return 1;
    }
    process.stderr.write(command.kind === 'retry' ? `key ${command.id} handed back to the background completer\n` : `key ${command.id} released\n`);
    return 0;
  });
}

async function main(argv: string[]): Promise<number> {
  let command: Command | 'help';
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`keys: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  return run(command);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`keys: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
