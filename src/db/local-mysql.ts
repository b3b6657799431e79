/**
 * A private MySQL/MariaDB server for tests and `npm start`: one server process per data dir,
 * listening on 127.0.0.1 only, with root and no password.
 *
 * Lifecycle of a data dir:
 *
 *   missing/empty ──init (into a temp sibling, then rename)──▶ initialised
 *   initialised ──start──▶ running ──stop() (SIGTERM)──▶ initialised
 *                          running ──kill('SIGKILL')──▶ crashed (stale pid file)
 *                          crashed ──restart(), or start with reuseRunning──▶ running
 *
 * Durability matters more than speed here: tests SIGKILL the server and expect every
 * acknowledged commit to survive, so the server runs with `innodb_flush_log_at_trx_commit=1`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import mysql from 'mysql2/promise';

/**
 * How long a server may take to accept connections. A first start after init, or InnoDB crash
 * recovery after a SIGKILL, on a slow CI disk can take tens of seconds; locally it is ~1 s.
 */
const READY_DEADLINE_MS = 60_000;
/** Interval between readiness probes; short because a healthy start takes about a second. */
const READY_POLL_INTERVAL_MS = 100;
/** Per-probe connect timeout; a local socket answers at once or not at all. */
const PROBE_CONNECT_TIMEOUT_MS = 2_000;
/** `mariadb-install-db` / `mysqld --initialize-insecure` take 2-10 s; leave room for slow disks. */
const INIT_DEADLINE_MS = 120_000;
/**
 * Graceful shutdown flushes the buffer pool (up to 128M of dirty pages here). After this we send
 * SIGKILL, which loses nothing acknowledged because every commit is already on disk.
 */
const STOP_DEADLINE_MS = 60_000;
/** After SIGKILL the kernel ends the process at once; this only bounds a wedged wait. */
const KILL_DEADLINE_MS = 10_000;
/** Interval for polling whether a process we did not spawn is gone. */
const EXIT_POLL_INTERVAL_MS = 50;
/** How much of the end of error.log to quote when the server fails to start. */
const LOG_TAIL_BYTES = 4_000;
/**
 * `sun_path` holds 108 bytes including the terminating NUL on Linux (104 on macOS); stay well
 * below both so a socket path never gets silently truncated.
 */
const MAX_SOCKET_PATH_BYTES = 100;

const DEFAULT_DATABASE = 'payments';
const SERVER_NAMES = ['mariadbd', 'mysqld'] as const;
const INSTALL_DB_NAMES = ['mariadb-install-db', 'mysql_install_db'] as const;
const EXTRA_SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/mysql/bin'] as const;

/** The two server families we know how to initialise and start; they differ in a few flags. */
const FLAVOURS = ['mariadb', 'mysql'] as const;
type Flavour = (typeof FLAVOURS)[number];

/** Files inside the data dir. */
const PID_FILE = 'mysqld.pid';
const ERROR_LOG = 'error.log';
/** stdout/stderr of the server; normally empty, but option-parsing errors can land here. */
const OUTPUT_LOG = 'server-output.log';
/** Records pid, port and socket of the server we started, for `reuseRunning`. */
const STATE_FILE = 'local-mysql-state.json';
/**
 * One file per holder of the server (a process that started or reused it and has not released
 * it): `local-mysql-user-<pid>-<random>.json`. Files, not a directory: the server would take a
 * directory in its data dir for a database.
 */
const USER_FILE_PREFIX = 'local-mysql-user-';

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

export interface LocalMysql {
  /** `mysql://root@127.0.0.1:PORT/<database>` */
  readonly url: string;
  readonly port: number;
  readonly socketPath: string;
  /** Pid of the current server process; changes after `restart()`. */
  readonly pid: number;
  /**
   * True when `reuseRunning` adopted a server another process started. Such a
   * server is not stopped when this process exits (only by an explicit stop()).
   */
  readonly reused: boolean;
  /** Sends `signal` (default SIGKILL, to simulate a crash); resolves when the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts again on the same data dir and the same port; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Graceful shutdown (SIGTERM), waiting for the process to exit. Idempotent. */
  stop(): Promise<void>;
  /**
   * Lets go of the server: stops it (as stop()) only when no other live process holds it;
   * otherwise leaves it running for them, and the last holder to release it stops it. What
   * `npm start` calls on exit, so a second instance on the same data dir never stops the
   * database under the first one. Returns whether the server was stopped.
   */
  release(): Promise<boolean>;
}

/** No server binary was found; the message says how to get one. */
export class MysqlNotInstalledError extends Error {
  constructor(searched: readonly string[], options?: ErrorOptions) {
    super(
      `No MySQL or MariaDB server found (looked for ${SERVER_NAMES.join(', ')} in ` +
        `${searched.join(', ') || '(nowhere)'}). To run a private database, do one of:\n` +
        `  - install MariaDB: \`apt-get install -y mariadb-server\` on Debian/Ubuntu, ` +
        `or run \`scripts/install-mysql.sh\`;\n` +
        `  - install MySQL 8 (its \`mysqld\` and data-dir initialisation are supported);\n` +
        `  - set MYSQL_URL to an existing server, e.g. mysql://root@127.0.0.1:3306/payments.`,
      options,
    );
    this.name = 'MysqlNotInstalledError';
  }
}

/** The server could not be initialised, started, reused or stopped; `logTail` quotes its log. */
export class LocalMysqlError extends Error {
  constructor(
    message: string,
    readonly logTail = '',
    options?: ErrorOptions,
  ) {
    super(logTail ? `${message}\n--- end of server log ---\n${logTail}` : message, options);
    this.name = 'LocalMysqlError';
  }

  /** True when the server aborted because its TCP port was taken (the free-port race). */
  get addressInUse(): boolean {
    return /Address already in use|errno: 98\b|Bind on TCP\/IP port/.test(this.logTail);
  }
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
        `A server (pid ${running.pid}) is already running on ${dataDir}; stop it ` +
          `(kill ${running.pid}) or pass reuseRunning to use it.`,
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

// ---------------------------------------------------------------------------------------------
// The instance

interface ServerContext {
  readonly installation: Installation;
  readonly dataDir: string;
  readonly database: string;
  readonly socketPath: string;
  readonly log: (msg: string) => void;
}

class LocalMysqlInstance implements LocalMysql {
  readonly url: string;
  /** This holder's file among the server's users (see USER_FILE_PREFIX). */
  private userFile: string | undefined;

  constructor(
    private readonly ctx: ServerContext,
    readonly port: number,
    private handle: ServerHandle,
    readonly reused = false,
  ) {
    this.url = `mysql://root@127.0.0.1:${port}/${encodeURIComponent(ctx.database)}`;
  }

  get socketPath(): string {
    return this.ctx.socketPath;
  }

  get pid(): number {
    return this.handle.pid;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const deadlineMs = signal === 'SIGKILL' ? KILL_DEADLINE_MS : STOP_DEADLINE_MS;
    this.handle.signal(signal);
    if (!(await this.handle.waitForExit(deadlineMs))) {
      throw new LocalMysqlError(
        `Server pid ${this.pid} still running ${deadlineMs} ms after ${signal}`,
      );
    }
    forgetLiveServer(this.pid);
  }

  async restart(): Promise<void> {
    if (this.handle.isRunning()) await this.stop();
    // Same port on purpose: callers hold connection pools configured with this URL.
    this.handle = await startServer(this.ctx, this.port);
  }

  /** Records this process as a holder of the server. */
  async register(): Promise<void> {
    this.userFile = await registerUser(this.ctx.dataDir);
  }

  async release(): Promise<boolean> {
    await this.unregister();
    const others = await liveUsers(this.ctx.dataDir);
    if (others.length > 0 && this.handle.isRunning()) {
      // Theirs now: our exit hook must leave it alone too.
      forgetLiveServer(this.pid);
      this.ctx.log(`leaving the server pid ${this.pid} running for process ${others.join(', ')}`);
      return false;
    }
    await this.stop();
    return true;
  }

  private async unregister(): Promise<void> {
    if (this.userFile === undefined) return;
    await fs.rm(this.userFile, { force: true });
    this.userFile = undefined;
  }

  async stop(): Promise<void> {
    await this.unregister();
    if (this.handle.isRunning()) {
      this.handle.signal('SIGTERM');
      if (!(await this.handle.waitForExit(STOP_DEADLINE_MS))) {
        this.ctx.log(`server pid ${this.pid} ignored SIGTERM for ${STOP_DEADLINE_MS} ms; killing`);
        await this.kill('SIGKILL');
      }
    }
    forgetLiveServer(this.pid);
    // Only after a clean stop: after kill() the state file stays, like after a real crash.
    await fs.rm(path.join(this.ctx.dataDir, STATE_FILE), { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Server processes: one we spawned, or one a previous process left running

interface ServerHandle {
  readonly pid: number;
  isRunning(): boolean;
  signal(signal: NodeJS.Signals): void;
  /** Resolves true once the process is gone, false if it is still there after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<boolean>;
}

class ChildServerHandle implements ServerHandle {
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(private readonly child: ChildProcess & { pid: number }) {
    this.exit = new Promise((resolve) => {
      child.once('exit', () => {
        this.exited = true;
        forgetLiveServer(child.pid);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  isRunning(): boolean {
    return !this.exited;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(signal);
  }

  /** The exit event itself does not keep Node alive (the child is unref'd); the timer does. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.exit.then(() => true), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A server started by another (possibly dead) process: we can only signal and poll it. */
class AdoptedServerHandle implements ServerHandle {
  constructor(readonly pid: number) {}

  isRunning(): boolean {
    return isProcessAlive(this.pid);
  }

  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch (err) {
      if (!isErrno(err, 'ESRCH')) throw err;
    }
  }

  async waitForExit(timeoutMs: number): Promise<boolean> {
    return pollUntil(() => !isProcessAlive(this.pid), timeoutMs, EXIT_POLL_INTERVAL_MS);
  }
}

/**
 * Servers this process holds. If Node exits normally (end of the event loop or process.exit)
 * without stop(), we send SIGTERM so no orphan keeps the data dir locked; that includes
 * adopted servers, because adopting one makes it ours. A SIGKILLed Node cannot run this hook:
 * the orphan keeps running, and the next `reuseRunning` start picks it up.
 */
const liveServers = new Map<number, string>();
let exitHookInstalled = false;

function rememberLiveServer(pid: number, dataDir: string): void {
  liveServers.set(pid, dataDir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [pid, dataDir] of liveServers) {
      // Another live process still uses it (it reused the server): leave it to them.
      if (otherLiveUsersSync(dataDir).length > 0) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Already gone; nothing to do in an exit hook.
      }
    }
  });
}

function forgetLiveServer(pid: number): void {
  liveServers.delete(pid);
}

// ---------------------------------------------------------------------------------------------
// Starting and probing

async function startServer(ctx: ServerContext, port: number): Promise<ServerHandle> {
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

async function waitUntilReady(
  ctx: ServerContext,
  handle: ServerHandle,
  errorLogStart: number,
): Promise<void> {
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
async function prepareServer(ctx: ServerContext, port: number): Promise<void> {
  const db = quoteIdentifier(ctx.database);
  await withConnection({ socketPath: ctx.socketPath }, async (c) => {
    const [rows] = await c.query(
      "SELECT 1 FROM mysql.user WHERE user = 'root' AND host = '127.0.0.1'",
    );
    if (Array.isArray(rows) && rows.length === 0) {
      await c.query("CREATE USER 'root'@'127.0.0.1'");
      await c.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
    }
    // utf8mb4_bin on both flavours: full Unicode, and keys compare byte-for-byte (the flavours'
    // default collations differ and are case-insensitive). Tables may still choose their own.
    await c.query(`CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  });
  await withConnection({ host: '127.0.0.1', port, database: ctx.database }, (c) =>
    c.query('SELECT 1'),
  );
}

async function adoptRunningServer(args: {
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
    throw new LocalMysqlError(
      `The server on ${socketPath} serves ${info.datadir}, not ${dataDir}; refusing to reuse it`,
    );
  }
  const ctx: ServerContext = { ...args, socketPath };
  await prepareServer(ctx, info.port);
  await writeState(dataDir, { pid, port: info.port, socketPath });
  // Not remembered for the exit hook: the server belongs to whoever started it
  // (e.g. a running `npm start`), and a short-lived command must leave it alone.
  return new LocalMysqlInstance(ctx, info.port, handle, true);
}

interface RunningServer {
  pid: number;
  socketPath: string | undefined;
}

async function findRunningServer(dataDir: string): Promise<RunningServer | undefined> {
  const state = await readState(dataDir);
  const pidFile = path.join(dataDir, PID_FILE);
  const pidFromFile = await readPidFile(pidFile);
  // The state file is a second witness: it survives a deleted pid file.
  const candidates = [...new Set([pidFromFile, state?.pid])].filter(
    (pid): pid is number => pid !== undefined,
  );
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

async function readPidFile(file: string): Promise<number | undefined> {
  const text = await readIfExists(file);
  const pid = text === undefined ? NaN : Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

// ---------------------------------------------------------------------------------------------
// State file

interface ServerState {
  pid: number;
  port: number;
  socketPath: string;
}

async function writeState(dataDir: string, state: ServerState): Promise<void> {
  // Write-then-rename so a reader never sees half a file.
  const file = path.join(dataDir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(state)}\n`);
  await fs.rename(tmp, file);
}

async function readState(dataDir: string): Promise<ServerState | undefined> {
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

// ---------------------------------------------------------------------------------------------
// Holders of a running server

interface UserRecord {
  pid: number;
  /** The process's start time (/proc/<pid>/stat field 22), so a recycled pid is not mistaken for it. */
  startTime: string | undefined;
}

async function registerUser(dataDir: string): Promise<string> {
  const file = path.join(dataDir, `${USER_FILE_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}.json`);
  const record: UserRecord = { pid: process.pid, startTime: procStartTime(process.pid) };
  await fs.writeFile(file, `${JSON.stringify(record)}\n`);
  return file;
}

/** Pids of the live processes holding the server on `dataDir`; files of dead ones are removed. */
async function liveUsers(dataDir: string): Promise<number[]> {
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
function otherLiveUsersSync(dataDir: string): number[] {
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

/** Linux only; undefined elsewhere. */
function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Installation discovery and data-dir initialisation

interface Installation {
  readonly server: string;
  readonly flavour: Flavour;
  /** MariaDB only: mariadb-install-db or mysql_install_db, and the basedir it needs if any. */
  readonly installDb?: { readonly path: string; readonly basedir?: string };
}

function defaultSearchPath(): string[] {
  const fromPath = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  return [...new Set([...fromPath, ...EXTRA_SEARCH_DIRS])];
}

async function findInstallation(searchPath: readonly string[]): Promise<Installation> {
  const server = await findExecutable(SERVER_NAMES, searchPath);
  if (server === undefined) throw new MysqlNotInstalledError(searchPath);

  let versionText: string;
  try {
    versionText = (await run(server, ['--version'], 30_000)).stdout;
  } catch (err) {
    throw new LocalMysqlError(`${server} --version failed: ${String(err)}`, '', {
      cause: err,
    });
  }
  // Debian's /usr/sbin/mysqld is MariaDB too; only the version string tells.
  const flavour: Flavour = /mariadb/i.test(versionText) ? 'mariadb' : 'mysql';
  if (flavour === 'mysql') return { server, flavour };

  // Packages put the tool in a bin dir; tarballs keep it in <basedir>/scripts and need --basedir.
  const serverDir = path.dirname(server);
  const baseDir = path.dirname(serverDir);
  const scriptsDir = path.join(baseDir, 'scripts');
  const dirs = [serverDir, path.join(baseDir, 'bin'), scriptsDir, ...searchPath, '/usr/bin'];
  const installDb = await findExecutable(INSTALL_DB_NAMES, [...new Set(dirs)]);
  if (installDb === undefined) {
    throw new MysqlNotInstalledError(searchPath, {
      cause: new Error(`found ${server} but neither ${INSTALL_DB_NAMES.join(' nor ')}`),
    });
  }
  const basedir = path.dirname(installDb) === scriptsDir ? baseDir : undefined;
  return {
    server,
    flavour,
    installDb: basedir === undefined ? { path: installDb } : { path: installDb, basedir },
  };
}

async function findExecutable(
  names: readonly string[],
  dirs: readonly string[],
): Promise<string | undefined> {
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      try {
        await fs.access(candidate, fs.constants.X_OK);
        if ((await fs.stat(candidate)).isFile()) return candidate;
      } catch {
        // Not here; keep looking.
      }
    }
  }
  return undefined;
}

/**
 * Initialises the data dir once. The init tool writes into a temp sibling that is renamed into
 * place only when complete, so a crash mid-init never leaves a half-initialised data dir that
 * later starts would trust. rename(2) replaces an empty directory atomically and fails on a
 * non-empty one, so of two processes initialising at once exactly one wins.
 */
async function ensureInitialised(
  installation: Installation,
  dataDir: string,
  log: (msg: string) => void,
): Promise<void> {
  if (await isInitialised(dataDir)) return;
  const entries = await fs.readdir(dataDir).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  });
  if (entries.length > 0) {
    throw new LocalMysqlError(
      `${dataDir} is neither empty nor an initialised data dir (it has no mysql/ system ` +
        `schema); refusing to initialise over it.`,
    );
  }
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  await removeAbandonedInitDirs(dataDir);

  const tmp = `${dataDir}.init-${process.pid}-${randomBytes(4).toString('hex')}`;
  log(`initialising ${installation.flavour} data dir ${dataDir}`);
  try {
    const [command, args] = initCommand(installation, tmp);
    // A private TMPDIR: bootstrap servers of concurrent inits otherwise share
    // /tmp for their temporary tables and can trip over each other's files.
    const privateTmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mysql-init-'));
    try {
      await run(command, args, INIT_DEADLINE_MS, { ...process.env, TMPDIR: privateTmp });
    } catch (err) {
      const output = err instanceof RunError ? `${err.stdout}\n${err.stderr}` : '';
      throw new LocalMysqlError(
        `Initialising ${dataDir} with ${command} failed`,
        tail(output, LOG_TAIL_BYTES),
        { cause: err },
      );
    } finally {
      await fs.rm(privateTmp, { recursive: true, force: true });
    }
    try {
      await fs.rename(tmp, dataDir);
    } catch (err) {
      if (!(await isInitialised(dataDir))) throw err;
      log(`${dataDir} was initialised concurrently by another process; using that`);
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

function initCommand(installation: Installation, target: string): [string, string[]] {
  if (installation.flavour === 'mysql') {
    return [
      installation.server,
      [
        '--no-defaults',
        '--initialize-insecure', // root@localhost without a password
        `--datadir=${target}`,
        ...(isRoot() ? ['--user=root'] : []),
      ],
    ];
  }
  const installDb = installation.installDb;
  if (installDb === undefined) throw new Error('MariaDB installation without an install-db tool');
  return [
    installDb.path,
    [
      '--no-defaults',
      // 'normal': root logs in without a password over TCP too, not only as the Unix user root.
      '--auth-root-authentication-method=normal',
      `--datadir=${target}`,
      '--skip-test-db',
      ...(installDb.basedir ? [`--basedir=${installDb.basedir}`] : []),
    ],
  ];
}

async function isInitialised(dataDir: string): Promise<boolean> {
  try {
    return (await fs.stat(path.join(dataDir, 'mysql'))).isDirectory();
  } catch {
    return false;
  }
}

/** Temp dirs of inits whose process died (crash mid-init) are garbage. */
async function removeAbandonedInitDirs(dataDir: string): Promise<void> {
  const parent = path.dirname(dataDir);
  const prefix = `${path.basename(dataDir)}.init-`;
  for (const entry of await fs.readdir(parent)) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number.parseInt(entry.slice(prefix.length), 10);
    if (Number.isInteger(pid) && pid !== process.pid && !isProcessAlive(pid)) {
      await fs.rm(path.join(parent, entry), { recursive: true, force: true });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** A socket inside the data dir when that path is short enough, else a short one in tmp. */
function socketPathFor(dataDir: string): string {
  const inDataDir = path.join(dataDir, 'mysql.sock');
  if (Buffer.byteLength(inDataDir) <= MAX_SOCKET_PATH_BYTES) return inDataDir;
  const hash = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  const name = `local-mysql-${hash}.sock`;
  const inTmp = path.join(os.tmpdir(), name);
  return Buffer.byteLength(inTmp) <= MAX_SOCKET_PATH_BYTES ? inTmp : path.join('/tmp', name);
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

async function withConnection<T>(
  target: { socketPath: string } | { host: string; port: number; database: string },
  use: (connection: mysql.Connection) => Promise<T>,
): Promise<T> {
  const connection = await mysql.createConnection({
    ...target,
    user: 'root',
    connectTimeout: PROBE_CONNECT_TIMEOUT_MS,
  });
  try {
    return await use(connection);
  } finally {
    connection.destroy();
  }
}

function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Alive and not a zombie (a killed server nobody has reaped yet is gone for our purposes). */
function isProcessAlive(pid: number): boolean {
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

/** Guards against a recycled pid; where /proc is missing we cannot tell and assume it is ours. */
async function commandLineNamesDataDir(pid: number, dataDir: string): Promise<boolean> {
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

async function sameDirectory(a: string, b: string): Promise<boolean> {
  const resolve = (p: string) => fs.realpath(p).catch(() => path.resolve(p));
  return (await resolve(a)) === (await resolve(b));
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/**
 * The end of error.log (from byte `errorLogStart` on, i.e. this start only: the file keeps
 * every earlier run) and of the server's stdout/stderr.
 */
async function readLogTail(dataDir: string, errorLogStart = 0): Promise<string> {
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

async function fileSize(file: string): Promise<number> {
  return fs.stat(file).then(
    (stat) => stat.size,
    () => 0,
  );
}

function tail(text: string, maxChars: number): string {
  return text.length <= maxChars ? text.trimEnd() : `...${text.slice(-maxChars).trimEnd()}`;
}

async function pollUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

class RunError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RunError';
  }
}

function run(
  command: string,
  args: readonly string[],
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', ...(env ? { env } : {}) },
      (err, stdout, stderr) => {
        if (err) {
          reject(new RunError(`${command} failed: ${err.message}`, stdout, stderr, { cause: err }));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}
