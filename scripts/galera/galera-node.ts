/**
 * One MariaDB Galera node on loopback: its own data dir, client port, group-communication port,
 * IST port and SST port.
 *
 *   initialised ──start(bootstrap)──▶ synced (a new cluster of one)
 *   initialised ──start()──▶ joining (SST from a donor) ──▶ synced
 *   synced ──kill()──▶ crashed ──restart()──▶ recovers its position ──▶ joining (IST) ──▶ synced
 *   synced ──stop()──▶ stopped
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { GaleraBinaries } from './galera-binaries.js';

/**
 * A joiner's first start copies the donor's whole data dir (rsync SST, ~150 MB here) and a
 * restarted node replays InnoDB recovery before IST; both take seconds locally, but a slow CI
 * disk shared with two other nodes can take a minute.
 */
const SYNCED_DEADLINE_MS = 120_000;
/** Readiness is polled; a healthy node syncs within a few seconds, so this keeps the wait short. */
const SYNC_POLL_INTERVAL_MS = 200;
/** Per-probe connect timeout: a local socket answers at once or not at all. */
const PROBE_CONNECT_TIMEOUT_MS = 2_000;
/** `--wsrep-recover` starts InnoDB, reads its position and exits: seconds. */
const RECOVER_DEADLINE_MS = 60_000;
/** A graceful shutdown of a small node takes about a second; after this it is killed. */
const STOP_DEADLINE_MS = 30_000;
/** SIGKILL ends a process at once; this only bounds a wedged wait. */
const KILL_DEADLINE_MS = 10_000;
const CLUSTER_NAME = 'payments';
const LOG_TAIL_CHARS = 3_000;

export interface GaleraNodePorts {
  /** MySQL protocol (clients) */
  readonly client: number;
  /** Group communication between nodes (Galera's 4567) */
  readonly gcomm: number;
  /** Incremental state transfer receiver (4568) */
  readonly ist: number;
  /** State snapshot transfer receiver, the rsync daemon of a joiner (4444) */
  readonly sst: number;
}

export interface GaleraNodeOptions {
  readonly name: string;
  readonly dataDir: string;
  readonly ports: GaleraNodePorts;
  /** `gcomm://` addresses of every node of the cluster (its own included, which Galera skips). */
  readonly peers: readonly string[];
  readonly binaries: GaleraBinaries;
  readonly database: string;
  /** `--user=` for the server when started as root (it owns the data dir). */
  readonly runAs?: string;
  readonly log: (message: string) => void;
}

export class GaleraNodeError extends Error {
  constructor(message: string, logTail: string) {
    super(logTail ? `${message}\n--- end of node log ---\n${logTail}` : message);
    this.name = 'GaleraNodeError';
  }
}

export class GaleraNode {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly o: GaleraNodeOptions) {}

  get name(): string {
    return this.o.name;
  }

  get port(): number {
    return this.o.ports.client;
  }

  get url(): string {
    return `mysql://root@127.0.0.1:${this.o.ports.client}/${encodeURIComponent(this.o.database)}`;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get socketPath(): string {
    return path.join(this.o.dataDir, 'mysql.sock');
  }

  /** Starts the node (a new cluster when `bootstrap`) and resolves once it is Synced. */
  async start(opts: { bootstrap?: boolean; startPosition?: string } = {}): Promise<void> {
    if (this.pid !== undefined) throw new Error(`${this.name} is already running`);
    const errorLogStart = await fileSize(this.errorLog);
    const args = [
      ...this.serverArgs(),
      ...(opts.bootstrap ? ['--wsrep-new-cluster'] : []),
      ...(opts.startPosition ? [`--wsrep-start-position=${opts.startPosition}`] : []),
    ];
    const out = openSync(path.join(this.o.dataDir, 'server-output.log'), 'a');
    let child: ChildProcess;
    try {
      // Own process group, so a Ctrl-C meant for Node does not reach the node; the exit hook
      // of the cluster stops it instead.
      child = spawn(this.o.binaries.server, args, { stdio: ['ignore', out, out], detached: true });
    } finally {
      closeSync(out);
    }
    child.on('error', () => undefined); // reported as an early exit below
    child.unref();
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.o.log(`${this.name}: started pid ${child.pid ?? '?'} on 127.0.0.1:${this.port}${opts.bootstrap ? ' (bootstrap)' : ''}`);
    await this.waitUntilSynced(errorLogStart);
  }

  /** Simulates a crash: SIGKILL, no shutdown, no state saved. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL', KILL_DEADLINE_MS);
    this.o.log(`${this.name}: killed`);
  }

  /**
   * Restarts a crashed or stopped node. After a SIGKILL the node's saved state says "unknown
   * position", which would cost a full SST; `--wsrep-recover` reads the position from InnoDB
   * first, so the node asks a donor for the missing write-sets only (IST).
   */
  async restart(): Promise<void> {
    if (this.pid !== undefined) await this.stop();
    const startPosition = await this.recoverPosition();
    this.o.log(`${this.name}: recovered position ${startPosition ?? '(none: full state transfer)'}`);
    await this.start(startPosition ? { startPosition } : {});
  }

  async stop(): Promise<void> {
    if (this.pid === undefined) return;
    try {
      await this.signalAndWait('SIGTERM', STOP_DEADLINE_MS);
    } catch {
      await this.signalAndWait('SIGKILL', KILL_DEADLINE_MS);
    }
  }

  /** SIGTERM without waiting, for process exit hooks. */
  terminateNow(): void {
    if (this.pid !== undefined) this.child?.kill('SIGTERM');
  }

  /** `wsrep_local_state_comment`, or undefined when the node does not answer. */
  async state(): Promise<string | undefined> {
    try {
      return await this.withSocket(async (c) => {
        const [rows] = await c.query("SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'");
        return (rows as Array<{ Value: string }>)[0]?.Value;
      });
    } catch {
      return undefined;
    }
  }

  private get errorLog(): string {
    return path.join(this.o.dataDir, 'error.log');
  }

  private serverArgs(): string[] {
    const { dataDir, ports, peers, binaries, name } = this.o;
    const providerOptions = [
      `gmcast.listen_addr=tcp://127.0.0.1:${ports.gcomm}`,
      `ist.recv_addr=127.0.0.1:${ports.ist}`,
      // Room for the write-sets a node misses while it is down, so it rejoins by IST.
      'gcache.size=128M',
    ].join(';');
    return [
      '--no-defaults', // first: ignore /etc/mysql/my.cnf
      `--datadir=${dataDir}`,
      `--socket=${this.socketPath}`,
      `--port=${ports.client}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${path.join(dataDir, 'mysqld.pid')}`,
      `--log-error=${this.errorLog}`,
      '--innodb-buffer-pool-size=128M',
      '--max-connections=1000',
      '--skip-name-resolve',
      // The same durability as the single-node harness (local-mysql.ts), so figures compare.
      '--innodb-flush-log-at-trx-commit=1',
      // What Galera requires: row-based replication and interleaved auto-increment locks.
      '--binlog-format=ROW',
      '--innodb-autoinc-lock-mode=2',
      '--wsrep-on=ON',
      `--wsrep-provider=${binaries.provider}`,
      `--wsrep-cluster-name=${CLUSTER_NAME}`,
      `--wsrep-cluster-address=gcomm://${peers.join(',')}`,
      `--wsrep-node-name=${name}`,
      `--wsrep-node-address=127.0.0.1:${ports.gcomm}`,
      `--wsrep-node-incoming-address=127.0.0.1:${ports.client}`,
      `--wsrep-sst-receive-address=127.0.0.1:${ports.sst}`,
      '--wsrep-sst-method=rsync',
      `--wsrep-provider-options=${providerOptions}`,
      '--wsrep-slave-threads=2',
      // As root the node runs as the system's `mysql` user: the rsync daemon a joiner starts
      // for its state transfer drops root privileges to `nobody` unless run by another user,
      // and then cannot write the data dir.
      ...(this.o.runAs !== undefined ? [`--user=${this.o.runAs}`] : []),
    ];
  }

  private async recoverPosition(): Promise<string | undefined> {
    const recoverLog = path.join(this.o.dataDir, 'recover.log');
    await fs.rm(recoverLog, { force: true });
    const args = [...this.serverArgs().filter((a) => !a.startsWith('--log-error=')), '--wsrep-recover', `--log-error=${recoverLog}`];
    await new Promise<void>((resolve, reject) => {
      execFile(this.o.binaries.server, args, { timeout: RECOVER_DEADLINE_MS }, (err) => (err ? reject(err) : resolve()));
    });
    const text = await fs.readFile(recoverLog, 'utf8').catch(() => '');
    const match = /WSREP: Recovered position: ([0-9a-f-]{36}:-?\d+)/.exec(text);
    return match?.[1] && !match[1].endsWith(':-1') ? match[1] : undefined;
  }

  private async signalAndWait(signal: NodeJS.Signals, deadlineMs: number): Promise<void> {
    const child = this.child;
    if (child === undefined || this.pid === undefined) return;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs);
    });
    try {
      if ((await Promise.race([this.exited, timedOut])) === 'timeout') {
        throw new GaleraNodeError(`${this.name} still running ${deadlineMs} ms after ${signal}`, '');
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private async waitUntilSynced(errorLogStart: number): Promise<void> {
    const deadline = Date.now() + SYNCED_DEADLINE_MS;
    for (;;) {
      if (this.pid === undefined) {
        throw new GaleraNodeError(`${this.name} exited before it synced with the cluster`, await this.logTail(errorLogStart));
      }
      if ((await this.state()) === 'Synced') break;
      if (Date.now() >= deadline) {
        throw new GaleraNodeError(`${this.name} did not sync within ${SYNCED_DEADLINE_MS} ms`, await this.logTail(errorLogStart));
      }
      await new Promise((resolve) => setTimeout(resolve, SYNC_POLL_INTERVAL_MS));
    }
    this.o.log(`${this.name}: synced`);
  }

  private async withSocket<T>(use: (c: mysql.Connection) => Promise<T>): Promise<T> {
    const c = await mysql.createConnection({ socketPath: this.socketPath, user: 'root', connectTimeout: PROBE_CONNECT_TIMEOUT_MS });
    try {
      return await use(c);
    } finally {
      c.destroy();
    }
  }

  private async logTail(start: number): Promise<string> {
    const text = (await fs.readFile(this.errorLog).catch(() => Buffer.alloc(0))).subarray(start).toString('utf8');
    return text.length <= LOG_TAIL_CHARS ? text.trimEnd() : `...${text.slice(-LOG_TAIL_CHARS).trimEnd()}`;
  }
}

async function fileSize(file: string): Promise<number> {
  return fs.stat(file).then(
    (s) => s.size,
    () => 0,
  );
}
