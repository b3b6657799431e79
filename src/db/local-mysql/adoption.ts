/**
 * Finding a live server on a data dir (one a previous process started and left running, e.g.
 * because it was SIGKILLed) and adopting it instead of starting a second one.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { withConnection } from './connection.js';
import type { Installation } from './discovery.js';
import { sameDirectory } from './file-system.js';
import { LocalMysqlInstance } from './lifecycle.js';
import { LocalMysqlError } from './local-mysql-error.js';
import { pollUntil } from './poll-until.js';
import { commandLineNamesDataDir, isProcessAlive } from './processes.js';
import { PID_FILE, readLogTail, readPidFile } from './server-files.js';
import { AdoptedServerHandle } from './server-handle.js';
import { prepareServer, READY_DEADLINE_MS, READY_POLL_INTERVAL_MS, type ServerContext } from './start-server.js';
import { readState, writeState } from './state-file.js';

export interface RunningServer {
  pid: number;
  socketPath: string | undefined;
}

export async function findRunningServer(dataDir: string): Promise<RunningServer | undefined> {
  const state = await readState(dataDir);
  const pidFile = path.join(dataDir, PID_FILE);
  const pidFromFile = await readPidFile(pidFile);
  // The state file is a second witness: it survives a deleted pid file.
  const candidates = [...new Set([pidFromFile, state?.pid])].filter((pid): pid is number => pid !== undefined);
  for (const pid of candidates) {
    if (isProcessAlive(pid) && (await commandLineNamesDataDir(pid, dataDir))) {
      return { pid, socketPath: state?.pid === pid ? state.socketPath : undefined };
    }
  }
  if (pidFromFile !== undefined) {
    // Left behind by a crash (or a recycled pid): the server overwrites it anyway, but removing
    // it keeps the next reader from trusting it.
    await fs.rm(pidFile, { force: true });
  }
  return undefined;
}

export async function adoptRunningServer(args: {
  installation: Installation;
  dataDir: string;
  database: string;
  log: (msg: string) => void;
  pid: number;
  socketPath: string;
}): Promise<LocalMysqlInstance> {
  const { dataDir, pid, socketPath } = args;
  const handle = new AdoptedServerHandle(pid);
  // It may still be in crash recovery; give it the same time a fresh start gets.
  let info: { port: number; datadir: string } | undefined;
  let lastError: unknown;
  await pollUntil(
    async () => {
      if (!handle.isRunning()) return true;
      try {
        info = await withConnection({ socketPath }, async (c) => {
          const [rows] = await c.query('SELECT @@port AS port, @@datadir AS datadir');
          const row = (rows as Array<{ port: number; datadir: string }>)[0];
          if (row === undefined) throw new Error('SELECT @@port returned no row');
          return { port: Number(row.port), datadir: String(row.datadir) };
        });
        return true;
      } catch (err) {
        lastError = err;
        return false;
      }
    },
    READY_DEADLINE_MS,
    READY_POLL_INTERVAL_MS,
  );
  if (info === undefined) {
    throw new LocalMysqlError(
      `A server (pid ${pid}) is running on ${dataDir} but does not answer on ${socketPath}; ` +
        `stop it (kill ${pid}) and start again (last error: ${String(lastError)})`,
      await readLogTail(dataDir),
      { cause: lastError },
    );
  }
  if (!(await sameDirectory(info.datadir, dataDir))) {
    throw new LocalMysqlError(`The server on ${socketPath} serves ${info.datadir}, not ${dataDir}; refusing to reuse it`);
  }
  const ctx: ServerContext = { ...args, socketPath };
  await prepareServer(ctx, info.port);
  await writeState(dataDir, { pid, port: info.port, socketPath });
  // Not remembered for the exit hook: the server belongs to whoever started it
  // (e.g. a running `npm start`), and a short-lived command must leave it alone.
  return new LocalMysqlInstance(ctx, info.port, handle, true);
}
