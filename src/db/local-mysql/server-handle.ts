/** Server processes: one we spawned, or one a previous process left running. */
import type { ChildProcess } from 'node:child_process';
import { isErrno } from './file-system.js';
import { forgetLiveServer } from './live-servers.js';
import { pollUntil } from './poll-until.js';
import { isProcessAlive } from './processes.js';

/**
 * Graceful shutdown flushes the buffer pool (up to 128M of dirty pages here). After this we send
 * SIGKILL, which loses nothing acknowledged because every commit is already on disk.
 */
export const STOP_DEADLINE_MS = 60_000;
/** After SIGKILL the kernel ends the process at once; this only bounds a wedged wait. */
export const KILL_DEADLINE_MS = 10_000;
/** Interval for polling whether a process we did not spawn is gone. */
const EXIT_POLL_INTERVAL_MS = 50;

export interface ServerHandle {
  readonly pid: number;
  isRunning(): boolean;
  signal(signal: NodeJS.Signals): void;
  /** Resolves true once the process is gone, false if it is still there after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<boolean>;
}

export class ChildServerHandle implements ServerHandle {
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
export class AdoptedServerHandle implements ServerHandle {
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
