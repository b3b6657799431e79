/** Finding an installed MariaDB or MySQL server, and the tool that initialises its data dir. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LocalMysqlError } from './local-mysql-error.js';
import { run } from './run-command.js';

const SERVER_NAMES = ['mariadbd', 'mysqld'] as const;
const INSTALL_DB_NAMES = ['mariadb-install-db', 'mysql_install_db'] as const;
const EXTRA_SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/mysql/bin'] as const;

/** The two server families we know how to initialise and start; they differ in a few flags. */
const FLAVOURS = ['mariadb', 'mysql'] as const;
export type Flavour = (typeof FLAVOURS)[number];

export interface Installation {
  readonly server: string;
  readonly flavour: Flavour;
  /** MariaDB only: mariadb-install-db or mysql_install_db, and the basedir it needs if any. */
  readonly installDb?: { readonly path: string; readonly basedir?: string };
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

export function defaultSearchPath(): string[] {
  const fromPath = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  return [...new Set([...fromPath, ...EXTRA_SEARCH_DIRS])];
}

export async function findInstallation(searchPath: readonly string[]): Promise<Installation> {
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

async function findExecutable(names: readonly string[], dirs: readonly string[]): Promise<string | undefined> {
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
