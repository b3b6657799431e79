/**
 * Holders of a running server: the processes that started or reused it and have not released
 * it, so that the last one to let go stops it and no process stops it under another.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { readIfExists } from './file-system.js';
import { isProcessAlive, procStartTime } from './processes.js';

/**
 * One file per holder of the server (a process that started or reused it and has not released
 * it): `local-mysql-user-<pid>-<random>.json`. Files, not a directory: the server would take a
 * directory in its data dir for a database.
 */
const USER_FILE_PREFIX = 'local-mysql-user-';

interface UserRecord {
  pid: number;
  /** The process's start time (/proc/<pid>/stat field 22), so a recycled pid is not mistaken for it. */
  startTime: string | undefined;
}

/** Records this process as a holder; returns its file, which the caller removes on release. */
export async function registerUser(dataDir: string): Promise<string> {
  const file = path.join(dataDir, `${USER_FILE_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}.json`);
  const record: UserRecord = { pid: process.pid, startTime: procStartTime(process.pid) };
  await fs.writeFile(file, `${JSON.stringify(record)}\n`);
  return file;
}

/** Pids of the live processes holding the server on `dataDir`; files of dead ones are removed. */
export async function liveUsers(dataDir: string): Promise<number[]> {
  const pids = new Set<number>();
  const entries = await fs.readdir(dataDir).catch(() => [] as string[]);
  for (const entry of entries.filter((name) => name.startsWith(USER_FILE_PREFIX))) {
    const file = path.join(dataDir, entry);
    const record = parseUserRecord(await readIfExists(file));
    if (record !== undefined && isLiveUser(record)) pids.add(record.pid);
    else await fs.rm(file, { force: true });
  }
  return [...pids];
}

/** For the exit hook, which must be synchronous: live holders other than this process. */
export function otherLiveUsersSync(dataDir: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync(dataDir).filter((name) => name.startsWith(USER_FILE_PREFIX));
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    let text: string | undefined;
    try {
      text = readFileSync(path.join(dataDir, entry), 'utf8');
    } catch {
      continue;
    }
    const record = parseUserRecord(text);
    if (record !== undefined && record.pid !== process.pid && isLiveUser(record)) pids.push(record.pid);
  }
  return pids;
}

function parseUserRecord(text: string | undefined): UserRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && 'pid' in value && typeof value.pid === 'number') {
      const startTime = 'startTime' in value && typeof value.startTime === 'string' ? value.startTime : undefined;
      return { pid: value.pid, startTime };
    }
  } catch {
    // Half-written or corrupt: not a holder.
  }
  return undefined;
}

function isLiveUser(record: UserRecord): boolean {
  if (!isProcessAlive(record.pid)) return false;
  return record.startTime === undefined || procStartTime(record.pid) === record.startTime;
}
