import type { Logger } from '../logger.js';

/**
 * Runs `pass` again and again with a pause of `intervalMs` ±50% between the
 * end of one pass and the start of the next, so instances started together
 * drift apart instead of hitting the database in lockstep. The timer does not
 * keep the process alive; `stop()` waits for a pass in progress.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly pass: () => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        this.running = this.pass().catch((err: unknown) => this.log.warn({ err }, `${this.name} pass failed`));
        void this.running.finally(() => this.start());
      },
      this.intervalMs * (0.5 + Math.random()),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
