/**
 * Child processes of a chaos run: every one is registered here the moment it is
 * spawned, so a failure or Ctrl-C anywhere can still end all of them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const ROOT = path.resolve(__dirname, '..', '..');

/** tsx compiles on start; a cold start while two other servers start on 2 busy cores takes several seconds. */
const START_TIMEOUT_MS = 60_000;

const children = new Set<ChildProcess>();

/** SIGKILLs every child still running (a stopped one too: SIGKILL needs no SIGCONT). Synchronous, for exit paths. */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

export interface Spawned {
  child: ChildProcess;
  /** Resolves with the exit signal (or code) once the process is gone. */
  exited: Promise<string>;
}

/**
 * Spawns `node --import tsx <args>` in the repository root, appending its stdout
 * and stderr to `logFile`, and resolves once a stdout line satisfies `ready`.
 */
export function spawnTsx<T>(
  args: readonly string[],
  env: Record<string, string>,
  logFile: string,
  ready: (line: string) => T | undefined,
): Promise<Spawned & { value: T }> {
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(signal ?? `exit code ${code}`);
    }),
  );
  // Both streams are read to their end: a full pipe would block the child.
  child.stderr?.pipe(log, { end: false });
  child.stdout?.pipe(log, { end: false });
  void exited.then(() => setImmediate(() => log.end()));
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not get ready within ${START_TIMEOUT_MS} ms (see ${path.basename(logFile)})`));
    }, START_TIMEOUT_MS);
    void exited.then((how) => {
      clearTimeout(timer);
      if (!settled) reject(new Error(`${args.join(' ')} ended (${how}) before it was ready (see ${path.basename(logFile)})`));
      settled = true;
    });
    if (!child.stdout) throw new Error('no stdout pipe');
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (settled) return;
      const value = ready(line);
      if (value === undefined) return;
      settled = true;
      clearTimeout(timer);
      lines.close();
      resolve({ child, exited, value });
    });
  });
}

/** The value of one field of a JSON log line, or undefined when the line is not JSON. */
export function jsonField(line: string, field: string): unknown {
  try {
    const entry: unknown = JSON.parse(line);
    return typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>)[field] : undefined;
  } catch {
    return undefined;
  }
}

export interface SimulatorProcess {
  url: string;
  secretKey: string;
  stop(): Promise<void>;
}

/** The provider simulator as its own process on 127.0.0.1 (its ledger is the provider's truth). */
export async function startSimulatorProcess(logFile: string): Promise<SimulatorProcess> {
  const spawned = await spawnTsx(['src/simulator/simulator-main.ts', '--host', '127.0.0.1', '--port', '0'], {}, logFile, (line) => {
    const url = jsonField(line, 'url');
    const secretKey = jsonField(line, 'secret_key');
    return typeof url === 'string' && typeof secretKey === 'string' ? { url, secretKey } : undefined;
  });
  return {
    ...spawned.value,
    stop: async () => {
      if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill('SIGKILL');
      await spawned.exited;
    },
  };
}
