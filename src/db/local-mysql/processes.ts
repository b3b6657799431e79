/** What we can learn about a process by its pid: alive, started when, serving which data dir. */
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { exists, isErrno } from './file-system.js';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Alive and not a zombie (a killed server nobody has reaped yet is gone for our purposes). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return isErrno(err, 'EPERM'); // exists but belongs to someone else
  }
  return procState(pid) !== 'Z';
}

/** Linux only; undefined elsewhere. */
function procState(pid: number): string | undefined {
  try {
    // Synchronous on purpose: called from the synchronous liveness check; /proc never blocks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after "(comm)" which may itself contain spaces or parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Linux only; undefined elsewhere. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Guards against a recycled pid; where /proc is missing we cannot tell and assume it is ours. */
export async function commandLineNamesDataDir(pid: number, dataDir: string): Promise<boolean> {
  let cmdline: string;
  try {
    cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return !(await exists('/proc/self'));
  }
  const args = cmdline.split('\0');
  const real = await fs.realpath(dataDir).catch(() => dataDir);
  return args.includes(`--datadir=${dataDir}`) || args.includes(`--datadir=${real}`);
}
