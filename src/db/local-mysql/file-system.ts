/** File-system reads where a missing file is an answer, not an error. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** 0 for a missing file. */
export async function fileSize(file: string): Promise<number> {
  return fs.stat(file).then(
    (stat) => stat.size,
    () => 0,
  );
}

export async function sameDirectory(a: string, b: string): Promise<boolean> {
  const resolve = (p: string) => fs.realpath(p).catch(() => path.resolve(p));
  return (await resolve(a)) === (await resolve(b));
}
