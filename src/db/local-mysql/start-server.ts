/** Spawning a server on an initialised data dir, waiting until it answers, and preparing it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import * as path from 'node:path';
import { withConnection } from './connection.js';
import type { Installation } from './discovery.js';
import { fileSize } from './file-system.js';
import { rememberLiveServer } from './live-servers.js';
import { LocalMysqlError } from './local-mysql-error.js';
import { pollUntil } from './poll-until.js';
import { isRoot } from './processes.js';
import { ERROR_LOG, OUTPUT_LOG, PID_FILE, readLogTail } from './server-files.js';
import { ChildServerHandle, KILL_DEADLINE_MS, type ServerHandle } from './server-handle.js';
import { writeState } from './state-file.js';

/**
 * How long a server may take to accept connections. A first start after init, or InnoDB crash
 * recovery after a SIGKILL, on a slow CI disk can take tens of seconds; locally it is ~1 s.
 */
export const READY_DEADLINE_MS = 60_000;
/** Interval between readiness probes; short because a healthy start takes about a second. */
export const READY_POLL_INTERVAL_MS = 100;

/** What every start (and restart) of one data dir's server needs. */
export interface ServerContext {
  readonly installation: Installation;
  readonly dataDir: string;
  readonly database: string;
  readonly socketPath: string;
  readonly log: (msg: string) => void;
}

export async function startServer(ctx: ServerContext, port: number): Promise<ServerHandle> {
  const { installation, dataDir, socketPath, log } = ctx;
  const args = [
    '--no-defaults', // must be first; ignore /etc/mysql/my.cnf and friends
    `--datadir=${dataDir}`,
    `--socket=${socketPath}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${path.join(dataDir, PID_FILE)}`,
    `--log-error=${path.join(dataDir, ERROR_LOG)}`,
    '--innodb-buffer-pool-size=128M',
    '--max-connections=1000',
    '--skip-name-resolve',
    // Every acknowledged commit is on disk before the client hears about it: tests SIGKILL.
    '--innodb-flush-log-at-trx-commit=1',
    ...(installation.flavour === 'mysql'
      ? // MySQL 8 turns on the X plugin (port 33060, shared by every instance) and the binary
        // log by default; neither is useful for a private instance.
        ['--mysqlx=OFF', '--skip-log-bin']
      : []),
    // mysqld refuses to run as root unless told to, on both flavours.
    ...(isRoot() ? ['--user=root'] : []),
  ];

  // The server appends to error.log; its stdout/stderr go to a file, never to ours.
  const errorLogStart = await fileSize(path.join(dataDir, ERROR_LOG));
  const outputFd = openSync(path.join(dataDir, OUTPUT_LOG), 'w');
  let child: ChildProcess;
  try {
    // Own process group: a Ctrl-C meant for Node does not reach the server, so shutdown
    // always goes through stop() or the exit hook.
    child = spawn(installation.server, args, {
      stdio: ['ignore', outputFd, outputFd],
      detached: true,
    });
  } finally {
    closeSync(outputFd);
  }
  // Keep a listener for the child's lifetime: an unhandled 'error' event would crash Node.
  const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
  if (child.pid === undefined) {
    throw new LocalMysqlError(`Could not spawn ${installation.server}`, '', {
      cause: await spawnError,
    });
  }
  // The caller owns the server through stop(); the child alone must not keep Node running
  // (the exit hook then stops it).
  child.unref();
  const handle = new ChildServerHandle(child as ChildProcess & { pid: number });
  rememberLiveServer(handle.pid, dataDir);
  log(`started ${installation.flavour} pid ${handle.pid} on 127.0.0.1:${port}`);

  try {
    await waitUntilReady(ctx, handle, errorLogStart);
    await prepareServer(ctx, port);
    await writeState(dataDir, { pid: handle.pid, port, socketPath });
  } catch (err) {
    // A server that never became usable is of no use to anyone; do not leave it behind.
    handle.signal('SIGKILL');
    await handle.waitForExit(KILL_DEADLINE_MS);
    if (err instanceof LocalMysqlError) throw err;
    throw new LocalMysqlError(
      `${installation.flavour} pid ${handle.pid} started but could not be prepared: ${String(err)}`,
      await readLogTail(dataDir, errorLogStart),
      { cause: err },
    );
  }
  log(`${installation.flavour} ready at 127.0.0.1:${port}`);
  return handle;
}

async function waitUntilReady(ctx: ServerContext, handle: ServerHandle, errorLogStart: number): Promise<void> {
  let lastError: unknown;
  const ready = await pollUntil(
    async () => {
      if (!handle.isRunning()) return true; // reported below
      try {
        await withConnection({ socketPath: ctx.socketPath }, (c) => c.query('SELECT 1'));
        return true;
      } catch (err) {
        lastError = err;
        return false;
      }
    },
    READY_DEADLINE_MS,
    READY_POLL_INTERVAL_MS,
  );
  if (!handle.isRunning()) {
    throw new LocalMysqlError(
      `${ctx.installation.server} (pid ${handle.pid}) exited before accepting connections`,
      await readLogTail(ctx.dataDir, errorLogStart),
    );
  }
  if (!ready) {
    throw new LocalMysqlError(
      `${ctx.installation.server} (pid ${handle.pid}) did not accept connections on ` +
        `${ctx.socketPath} within ${READY_DEADLINE_MS} ms (last error: ${String(lastError)})`,
      await readLogTail(ctx.dataDir, errorLogStart),
      { cause: lastError },
    );
  }
}

/**
 * Over the Unix socket (where root@localhost always works): make sure root may log in over TCP
 * from 127.0.0.1 (MariaDB's install-db creates that account, MySQL 8's --initialize-insecure
 * does not, and --skip-name-resolve stops 'localhost' from matching TCP clients), and create
 * the database. Then prove the URL we hand out works.
 */
export async function prepareServer(ctx: ServerContext, port: number): Promise<void> {
  const db = quoteIdentifier(ctx.database);
  await withConnection({ socketPath: ctx.socketPath }, async (c) => {
    const [rows] = await c.query("SELECT 1 FROM mysql.user WHERE user = 'root' AND host = '127.0.0.1'");
    if (Array.isArray(rows) && rows.length === 0) {
      await c.query("CREATE USER 'root'@'127.0.0.1'");
      await c.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
    }
    // utf8mb4_bin on both flavours: full Unicode, and keys compare byte-for-byte (the flavours'
    // default collations differ and are case-insensitive). Tables may still choose their own.
    await c.query(`CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  });
  await withConnection({ host: '127.0.0.1', port, database: ctx.database }, (c) => c.query('SELECT 1'));
}

function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}
