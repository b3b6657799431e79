/**
 * A MariaDB Galera cluster (multi-primary) on loopback, from the machine's binaries: every node
 * has its own data dir and ports; the first bootstraps a new cluster, the others join it by a
 * state snapshot transfer (rsync). Used by test/galera and scripts/galera/bench.ts.
 *
 *   npx tsx scripts/galera/cluster.ts [--nodes 3]   # prints the nodes' URLs; Ctrl-C stops it
 *
 * Needs `mariadbd`, Debian's `galera-4` and `rsync` (see galera-binaries.ts).
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalMysql } from '../../src/db/local-mysql.js';
import { findGaleraBinaries } from './galera-binaries.js';
import { GaleraNode, type GaleraNodePorts } from './galera-node.js';

export const DEFAULT_CLUSTER_SIZE = 3;
const DEFAULT_DATABASE = 'payments';

export interface GaleraCluster {
  readonly nodes: readonly GaleraNode[];
  /** One URL per node, in node order. */
  readonly urls: readonly string[];
  /** Stops every node and removes the data dirs. Idempotent. */
  stop(): Promise<void>;
}

export interface StartGaleraClusterOptions {
  size?: number;
  database?: string;
  log?: (message: string) => void;
}

export async function startGaleraCluster(o: StartGaleraClusterOptions = {}): Promise<GaleraCluster> {
  const binaries = findGaleraBinaries();
  if (typeof binaries === 'string') throw new Error(binaries);
  const size = o.size ?? DEFAULT_CLUSTER_SIZE;
  const database = o.database ?? DEFAULT_DATABASE;
  const log = o.log ?? (() => {});
  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), 'payments-galera-'));
  const nodes: GaleraNode[] = [];
  const onExit = (): void => {
    for (const n of nodes) n.terminateNow();
  };
  process.on('exit', onExit);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Joiners first, so the last node standing shuts down as a clean primary component.
    for (const node of [...nodes].reverse()) await node.stop();
    process.off('exit', onExit);
    await fs.rm(baseDir, { recursive: true, force: true });
  };
  try {
    // The first node's data dir is prepared the way the single-node harness prepares one
    // (system tables, root over TCP, the database), by a plain server that is then stopped;
    // the other nodes start from copies and are overwritten by their state transfer anyway.
    const firstDir = path.join(baseDir, 'node1');
    const template = await startLocalMysql({ dataDir: firstDir, database });
    await template.stop();
    for (let i = 2; i <= size; i++) await fs.cp(firstDir, path.join(baseDir, `node${i}`), { recursive: true });
    const runAs = await handOverToServerUser(baseDir);

    const ports = await freePorts(size * 4);
    const nodePorts: GaleraNodePorts[] = Array.from({ length: size }, (_, i) => ({
      client: ports[i * 4]!,
      gcomm: ports[i * 4 + 1]!,
      ist: ports[i * 4 + 2]!,
      sst: ports[i * 4 + 3]!,
    }));
    const peers = nodePorts.map((p) => `127.0.0.1:${p.gcomm}`);
    for (let i = 0; i < size; i++) {
      nodes.push(
        new GaleraNode({
          name: `node${i + 1}`,
          dataDir: path.join(baseDir, `node${i + 1}`),
          ports: nodePorts[i]!,
          peers,
          binaries,
          database,
          log,
          ...(runAs ? { runAs } : {}),
        }),
      );
    }
    await nodes[0]!.start({ bootstrap: true });
    // One joiner at a time: a donor serves one state transfer at a time.
    for (const node of nodes.slice(1)) await node.start();
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { nodes, urls: nodes.map((n) => n.url), stop };
}

/** The unprivileged account a node runs as when this process is root (Debian's packages create it). */
const SERVER_USER = 'mysql';

/**
 * As root, gives the data dirs to SERVER_USER (see GaleraNode's `runAs`) and returns its name;
 * as any other user the nodes run as that user and nothing changes.
 */
async function handOverToServerUser(baseDir: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  const entry = passwd.split('\n').find((line) => line.startsWith(`${SERVER_USER}:`));
  const [uid, gid] = (entry?.split(':').slice(2, 4) ?? []).map(Number);
  if (uid === undefined || gid === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(`A Galera node started by root runs as the '${SERVER_USER}' user, which does not exist (Debian's mariadb-server creates it)`);
  }
  const chownTree = async (dir: string): Promise<void> => {
    await fs.chown(dir, uid, gid);
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const child = path.join(dir, entry.name);
      if (entry.isDirectory()) await chownTree(child);
      else await fs.chown(child, uid, gid);
    }
  };
  await chownTree(baseDir);
  return SERVER_USER;
}

/**
 * Free loopback ports, held open together so none is handed out twice; the small race between
 * closing them and a node binding them is accepted (a node that loses it fails to start, loudly).
 */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { nodes: { type: 'string', default: String(DEFAULT_CLUSTER_SIZE) } } });
  const cluster = await startGaleraCluster({ size: Number(values.nodes), log: (m) => process.stderr.write(`[galera] ${m}\n`) });
  process.stdout.write(`${JSON.stringify({ urls: cluster.urls })}\n`);
  const shutdown = (): void => {
    void cluster.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  // Keeps the process alive until a signal (the nodes are unref'd children).
  setInterval(() => undefined, 1 << 30);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
