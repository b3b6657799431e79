/**
 * The servers' own account of a chaos run: log messages at warn level or above,
 * counted by message. Messages are fixed texts (the service never logs keys,
 * bodies or customer data), so they can be printed as they are.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** pino's numeric levels. */
const WARN_LEVEL = 40;
const LEVEL_NAMES: Record<number, string> = { 40: 'warn', 50: 'error', 60: 'fatal' };
/** Distinct messages printed; the rest are counted in one line. */
const MAX_MESSAGES = 12;

export async function summarizeServerLogs(logDir: string): Promise<string[]> {
  const counts = new Map<string, number>();
  for (const name of await readdir(logDir)) {
    if (!name.startsWith('server-')) continue;
    const text = await readFile(path.join(logDir, name), 'utf8');
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      let entry: { level?: unknown; msg?: unknown };
      try {
        entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      } catch {
        continue;
      }
      if (typeof entry.level !== 'number' || entry.level < WARN_LEVEL) continue;
      const label = `${LEVEL_NAMES[entry.level] ?? entry.level}: ${typeof entry.msg === 'string' ? entry.msg : '(no message)'}`;
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
  }
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  const lines = sorted.slice(0, MAX_MESSAGES).map(([label, n]) => `server log ${label} (x${n})`);
  if (sorted.length > MAX_MESSAGES) lines.push(`server log: ${sorted.length - MAX_MESSAGES} more distinct warn/error messages`);
  return lines.length > 0 ? lines : ['server log: no warn/error lines'];
}
