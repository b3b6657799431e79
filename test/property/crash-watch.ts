function crashError(err: Error): Error {
  return new Error(`the server threw an uncaught exception (a server process would exit): ${String(err)}`, { cause: err });
}

type UncaughtListener = (err: Error, origin: NodeJS.UncaughtExceptionOrigin) => void;

/**
 * The servers run in the test process, so an exception thrown out of server code (grpc-js
 * included) reaches the process, not the call: a server process would exit. While started, this
 * takes such exceptions from mocha and fails the step that caused them, so fast-check can shrink
 * and print the counterexample instead of mocha reporting a bare "Uncaught" error.
 */
export class CrashWatch {
  private saved: UncaughtListener[] = [];
  private waiters = new Set<(err: Error) => void>();
  /** A crash no step was waiting for: the next step (or stop()) fails with it, so nothing is swallowed. */
  private unclaimed: Error | undefined;
  private readonly onCrash = (err: Error): void => {
    if (this.waiters.size === 0) this.unclaimed ??= err;
    for (const fail of this.waiters) fail(err);
  };

  start(): void {
    this.saved = process.listeners('uncaughtException') as UncaughtListener[];
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', this.onCrash);
  }

  /** Gives the exceptions back to mocha; throws a crash no step claimed. */
  stop(): void {
    process.off('uncaughtException', this.onCrash);
    for (const listener of this.saved) process.on('uncaughtException', listener);
    this.saved = [];
    const unclaimed = this.unclaimed;
    this.unclaimed = undefined;
    if (unclaimed) throw crashError(unclaimed);
  }

  /** `p`, or a rejection as soon as anything throws uncaught while waiting for it. */
  async race<T>(p: Promise<T>): Promise<T> {
    const earlier = this.unclaimed;
    if (earlier) {
      this.unclaimed = undefined;
      throw crashError(earlier);
    }
    let fail: ((err: Error) => void) | undefined;
    const crashed = new Promise<never>((_, reject) => {
      fail = (err) => reject(crashError(err));
      this.waiters.add(fail);
    });
    try {
      return await Promise.race([p, crashed]);
    } finally {
      if (fail) this.waiters.delete(fail);
    }
  }
}
