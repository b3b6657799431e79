/**
 * The state file in the data dir: pid, port and socket of the server we started, for
 * `reuseRunning`. Removed on a clean stop; after a crash it stays, next to the pid file, as a
 * second witness of which server owns the data dir.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { readIfExists } from './file-system.js';

const STATE_FILE = 'local-mysql-state.json';

export interface ServerState {
  pid: number;
  port: number;
  socketPath: string;
}

export async function writeState(dataDir: string, state: ServerState): Promise<void> {
  // Write-then-rename so a reader never sees half a file.
  const file = path.join(dataDir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(state)}\n`);
  await fs.rename(tmp, file);
}

export async function readState(dataDir: string): Promise<ServerState | undefined> {
  const text = await readIfExists(path.join(dataDir, STATE_FILE));
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (
      typeof value === 'object' &&
      value !== null &&
      'pid' in value &&
      'port' in value &&
      'socketPath' in value &&
      typeof value.pid === 'number' &&
      typeof value.port === 'number' &&
      typeof value.socketPath === 'string'
    ) {
      return { pid: value.pid, port: value.port, socketPath: value.socketPath };
    }
  } catch {
    // A corrupt state file is treated as absent: the pid file still protects the data dir.
  }
  return undefined;
}

export async function removeState(dataDir: string): Promise<void> {
  await fs.rm(path.join(dataDir, STATE_FILE), { force: true });
}
