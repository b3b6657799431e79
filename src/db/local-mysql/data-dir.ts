/** Initialising a data dir once, safely against crashes and concurrent inits. */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Installation } from './discovery.js';
import { isErrno } from './file-system.js';
import { LocalMysqlError } from './local-mysql-error.js';
import { isProcessAlive, isRoot } from './processes.js';
import { RunError, run } from './run-command.js';
import { LOG_TAIL_BYTES, tail } from './server-files.js';

/** `mariadb-install-db` / `mysqld --initialize-insecure` take 2-10 s; leave room for slow disks. */
const INIT_DEADLINE_MS = 120_000;

/**
 * Initialises the data dir once. The init tool writes into a temp sibling that is renamed into
 * place only when complete, so a crash mid-init never leaves a half-initialised data dir that
 * later starts would trust. rename(2) replaces an empty directory atomically and fails on a
 * non-empty one, so of two processes initialising at once exactly one wins.
 */
export async function ensureInitialised(installation: Installation, dataDir: string, log: (msg: string) => void): Promise<void> {
  if (await isInitialised(dataDir)) return;
  const entries = await fs.readdir(dataDir).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  });
  if (entries.length > 0) {
    throw new LocalMysqlError(`${dataDir} is neither empty nor an initialised data dir (it has no mysql/ system schema); refusing to initialise over it.`);
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
      throw new LocalMysqlError(`Initialising ${dataDir} with ${command} failed`, tail(output, LOG_TAIL_BYTES), { cause: err });
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
