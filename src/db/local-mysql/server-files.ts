/** The server's own files in the data dir (pid file, logs) and its socket path. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readIfExists } from './file-system.js';

/** Files inside the data dir. */
export const PID_FILE = 'mysqld.pid';
export const ERROR_LOG = 'error.log';
/** stdout/stderr of the server; normally empty, but option-parsing errors can land here. */
export const OUTPUT_LOG = 'server-output.log';

/** How much of the end of error.log to quote when the server fails to start. */
export const LOG_TAIL_BYTES = 4_000;
/**
 * `sun_path` holds 108 bytes including the terminating NUL on Linux (104 on macOS); stay well
 * below both so a socket path never gets silently truncated.
 */
const MAX_SOCKET_PATH_BYTES = 100;

/** A socket inside the data dir when that path is short enough, else a short one in tmp. */
export function socketPathFor(dataDir: string): string {
  const inDataDir = path.join(dataDir, 'mysql.sock');
  if (Buffer.byteLength(inDataDir) <= MAX_SOCKET_PATH_BYTES) return inDataDir;
  const hash = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  const name = `local-mysql-${hash}.sock`;
  const inTmp = path.join(os.tmpdir(), name);
  return Buffer.byteLength(inTmp) <= MAX_SOCKET_PATH_BYTES ? inTmp : path.join('/tmp', name);
}

export async function readPidFile(file: string): Promise<number | undefined> {
  const text = await readIfExists(file);
  const pid = text === undefined ? NaN : Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * The end of error.log (from byte `errorLogStart` on, i.e. this start only: the file keeps
 * every earlier run) and of the server's stdout/stderr.
 */
export async function readLogTail(dataDir: string, errorLogStart = 0): Promise<string> {
  const parts: string[] = [];
  for (const [name, start] of [
    [ERROR_LOG, errorLogStart],
    [OUTPUT_LOG, 0],
  ] as const) {
    const bytes = await fs.readFile(path.join(dataDir, name)).catch(() => undefined);
    const text = bytes?.subarray(start).toString('utf8') ?? '';
    if (text.trim() !== '') parts.push(`[${name}]\n${tail(text, LOG_TAIL_BYTES)}`);
  }
  return parts.join('\n');
}

export function tail(text: string, maxChars: number): string {
  return text.length <= maxChars ? text.trimEnd() : `...${text.slice(-maxChars).trimEnd()}`;
}
