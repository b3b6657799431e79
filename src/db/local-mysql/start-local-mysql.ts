/** The one entry point: a server for a data dir, adopted if one runs there, else started. */
import * as net from 'node:net';
import * as path from 'node:path';
import { adoptRunningServer, findRunningServer } from './adoption.js';
import { ensureInitialised } from './data-dir.js';
import { defaultSearchPath, findInstallation } from './discovery.js';
import { type LocalMysql, LocalMysqlInstance } from './lifecycle.js';
import { LocalMysqlError } from './local-mysql-error.js';
import { socketPathFor } from './server-files.js';
import type { ServerHandle } from './server-handle.js';
import { type ServerContext, startServer } from './start-server.js';

const DEFAULT_DATABASE = 'payments';

export interface StartLocalMysqlOptions {
  /** Data directory; created and initialised if missing or empty. */
  dataDir: string;
  /** TCP port on 127.0.0.1; 0 or undefined picks a free one. */
  port?: number;
  /** Database created (if missing) once the server is up; default `payments`. */
  database?: string;
  log?: (msg: string) => void;
  /**
   * Reuse a server that a previous process started on this data dir and left running (for
   * example because that process was SIGKILLed), instead of failing. Used by `npm start`.
   */
  reuseRunning?: boolean;
  /**
   * Directories searched for `mariadbd`/`mysqld` (and the init tool), in order. Defaults to
   * PATH followed by /usr/sbin, /usr/local/sbin, /usr/local/mysql/bin.
   */
  searchPath?: readonly string[];
}

export async function startLocalMysql(opts: StartLocalMysqlOptions): Promise<LocalMysql> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  const database = opts.database ?? DEFAULT_DATABASE;
  const installation = await findInstallation(opts.searchPath ?? defaultSearchPath());
  const socketPath = socketPathFor(dataDir);

  // Two servers on one data dir fight over InnoDB's file locks (the second one retries for
  // minutes and then dies), so look for a live server on this data dir before starting one.
  // The pid file alone is not proof: after a crash it is stale, and the pid may belong to
  // another process by now. A server counts as ours when that pid is alive and its command
  // line names this data dir; the port then comes from asking the server itself (@@port).
  const running = await findRunningServer(dataDir);
  if (running !== undefined) {
    if (opts.reuseRunning !== true) {
      throw new LocalMysqlError(
        `A server (pid ${running.pid}) is already running on ${dataDir}; stop it ` + `(kill ${running.pid}) or pass reuseRunning to use it.`,
      );
    }
    const instance = await adoptRunningServer({
      installation,
      dataDir,
      database,
      log,
      pid: running.pid,
      socketPath: running.socketPath ?? socketPath,
    });
    if (opts.port !== undefined && opts.port !== 0 && opts.port !== instance.port) {
      throw new LocalMysqlError(
        `The running server on ${dataDir} (pid ${instance.pid}) listens on port ` +
          `${instance.port}, not the requested ${opts.port}; stop it (kill ${instance.pid}) first.`,
      );
    }
    log(`reusing ${installation.flavour} server pid ${instance.pid} on port ${instance.port}`);
    await instance.register();
    return instance;
  }

  await ensureInitialised(installation, dataDir, log);
  const ctx: ServerContext = { installation, dataDir, database, socketPath, log };
  const fixedPort = opts.port !== undefined && opts.port !== 0 ? opts.port : undefined;
  let port = fixedPort ?? (await pickFreePort());
  let handle: ServerHandle;
  try {
    handle = await startServer(ctx, port);
  } catch (err) {
    // The free port may have been taken between our probe and the server's bind; one retry
    // with a fresh port makes that race negligible.
    const portRace = err instanceof LocalMysqlError && err.addressInUse;
    if (fixedPort !== undefined || !portRace) throw err;
    port = await pickFreePort();
    log(`port taken before the server could bind it; retrying on ${port}`);
    handle = await startServer(ctx, port);
  }
  const instance = new LocalMysqlInstance(ctx, port, handle);
  await instance.register();
  return instance;
}

/** Accepts the small race between closing this probe and the server binding the port. */
async function pickFreePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
  return address.port;
}
