/**
 * A running private server as its callers hold it: kill, restart, stop, release.
 *
 *   running ──stop() (SIGTERM)──▶ initialised
 *   running ──kill('SIGKILL')──▶ crashed (stale pid file)
 *   crashed ──restart(), or start with reuseRunning──▶ running
 */
import * as fs from 'node:fs/promises';
import { liveUsers, registerUser } from './holders.js';
import { forgetLiveServer } from './live-servers.js';
import { LocalMysqlError } from './local-mysql-error.js';
import { KILL_DEADLINE_MS, type ServerHandle, STOP_DEADLINE_MS } from './server-handle.js';
import { type ServerContext, startServer } from './start-server.js';
import { removeState } from './state-file.js';

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

export class LocalMysqlInstance implements LocalMysql {
  readonly url: string;
  /** This holder's file among the server's users (see holders.ts). */
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
      throw new LocalMysqlError(`Server pid ${this.pid} still running ${deadlineMs} ms after ${signal}`);
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
    await removeState(this.ctx.dataDir);
  }
}
