/**
 * The orchestrator's side of load-generator.ts: forks it and drives it slice by slice over its
 * IPC channel. The same protocol as scripts/bench/throughput.ts uses, for the benchmarks that
 * compare two servers of one kind (growth.ts: an empty database against a filled one).
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { compiledServer } from './compiled-server.js';
import type { FromLoadGenerator, LoadPlan, SliceReport, TargetTotals, ToLoadGenerator } from './load-generator.js';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface BenchServer {
  port: number;
  countersPort: number;
  child: ChildProcess;
}

/** Starts scripts/bench/throughput-server.ts, compiled (see compiled-server.ts), with `args` (and Node flags such as --cpu-prof); resolves once it prints its ports. */
export function startBenchServer(args: string[], nodeFlags: string[] = []): Promise<BenchServer> {
  const child = spawn(process.execPath, [...nodeFlags, ...compiledServer('scripts/bench/throughput-server.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      const { port, counters } = JSON.parse(line) as { port: number; counters: number };
      resolve({ port, countersPort: counters, child });
    });
  });
}

const CLOCK_TICKS_PER_SECOND = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU milliseconds a process has used so far (Linux /proc), or NaN where unknown. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

const QUIET_SAMPLE_MS = 250;
/** A measurement starts once these processes together use less than this share of one core... */
const QUIET_CPU_SHARE = 0.1;
/** ...or after this long, whichever comes first (a filled database may purge and flush for long). */
const QUIET_MAX_WAIT_MS = 60_000;

/** Waits until the given processes are idle (InnoDB flushing after a bulk load); returns how long it waited. */
export async function untilQuiet(pids: Array<number | undefined>, maxWaitMs = QUIET_MAX_WAIT_MS): Promise<number> {
  const start = Date.now();
  const total = (): number => pids.reduce((sum: number, pid) => sum + (processCpuMs(pid) || 0), 0);
  for (;;) {
    const before = total();
    await new Promise((resolve) => setTimeout(resolve, QUIET_SAMPLE_MS));
    const elapsed = Date.now() - start;
    if (total() - before < QUIET_CPU_SHARE * QUIET_SAMPLE_MS || elapsed >= maxWaitMs) return elapsed;
  }
}

/**
 * Target order of the measured slices: A B B A A B B A ..., so a linear drift of the machine's
 * speed weighs on every target alike.
 */
export function slicePattern(targets: number, perTarget: number): number[] {
  const forward = Array.from({ length: targets }, (_, i) => i);
  const backward = [...forward].reverse();
  return Array.from({ length: perTarget }, (_, i) => (i % 2 === 0 ? forward : backward)).flat();
}

/** A forked load generator, driven slice by slice over its IPC channel. */
export class LoadGeneratorProcess {
  private readonly inbox: FromLoadGenerator[] = [];
  private waiter: { resolve: (m: FromLoadGenerator) => void; reject: (err: Error) => void } | undefined;
  private exited: Error | undefined;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: FromLoadGenerator) => {
      if (this.waiter) {
        this.waiter.resolve(m);
        this.waiter = undefined;
      } else this.inbox.push(m);
    });
    child.once('exit', (code) => this.fail(new Error(`load generator exited with ${code}`)));
  }

  /** Forks the generator and hands it `plan`; `execArgv` goes before tsx (e.g. profiling flags). */
  static async start(plan: LoadPlan, execArgv: string[] = []): Promise<LoadGeneratorProcess> {
    const child = fork(path.join(ROOT, 'scripts/bench/load-generator.ts'), [], {
      cwd: ROOT,
      execArgv: [...execArgv, '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const lg = new LoadGeneratorProcess(child);
    const ready = await lg.ask(plan);
    if (ready.type !== 'ready') throw new Error(`load generator answered ${ready.type} to its plan`);
    return lg;
  }

  private next(): Promise<FromLoadGenerator> {
    const m = this.inbox.shift();
    if (m) return Promise.resolve(m);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  private ask(message: ToLoadGenerator | LoadPlan): Promise<FromLoadGenerator> {
    const reply = this.next();
    this.child.send(message, (err) => {
      if (err) this.fail(err);
    });
    return reply;
  }

  private fail(err: Error): void {
    this.exited ??= err;
    this.waiter?.reject(err);
    this.waiter = undefined;
  }

  /** Starts issuing calls to `target`. */
  async start(target: number, measure: boolean): Promise<void> {
    const m = await this.ask({ type: 'start', target, measure });
    if (m.type !== 'started') throw new Error(`load generator answered ${m.type} to start`);
  }

  /** Stops issuing; resolves once no call is in flight, to the slice that ended. */
  async drain(): Promise<SliceReport> {
    const m = await this.ask({ type: 'drain' });
    if (m.type !== 'slice') throw new Error(`load generator answered ${m.type} to drain`);
    return m.slice;
  }

  async stop(): Promise<TargetTotals[]> {
    const m = await this.ask({ type: 'stop' });
    if (m.type !== 'done') throw new Error(`load generator answered ${m.type} to stop`);
    return m.totals;
  }
}
