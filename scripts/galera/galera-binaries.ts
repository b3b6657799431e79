/**
 * What a local Galera cluster needs from the machine: a MariaDB server built with wsrep (Debian's
 * `mariadb-server`), the Galera 4 provider library (`galera-4`) and, for state transfers, `rsync`.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Where Debian's `galera-4` package puts the provider (other distributions: /usr/lib64/galera-4). */
const PROVIDER_CANDIDATES = [
  '/usr/lib/galera/libgalera_smm.so',
  '/usr/lib/galera-4/libgalera_smm.so',
  '/usr/lib64/galera-4/libgalera_smm.so',
  '/usr/lib64/galera/libgalera_smm.so',
] as const;
const SERVER_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/bin'] as const;

export interface GaleraBinaries {
  /** `mariadbd` */
  readonly server: string;
  /** `libgalera_smm.so` */
  readonly provider: string;
}

/** How to get the missing pieces, quoted in pending test messages and in errors. */
export const GALERA_INSTALL_HINT = 'apt-get install -y mariadb-server galera-4 rsync (Debian/Ubuntu, as root)';

function firstAccessible(candidates: readonly string[], mode: number): string | undefined {
  for (const candidate of candidates) {
    try {
      accessSync(candidate, mode);
      return candidate;
    } catch {
      // Not here; keep looking.
    }
  }
  return undefined;
}

function onPath(name: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter((d) => d !== ''), ...extraDirs];
  return firstAccessible(
    dirs.map((d) => path.join(d, name)),
    constants.X_OK,
  );
}

/** The binaries, or a sentence saying what is missing and how to install it. */
export function findGaleraBinaries(): GaleraBinaries | string {
  const server = onPath('mariadbd', SERVER_DIRS);
  const provider = process.env['GALERA_PROVIDER'] ?? firstAccessible(PROVIDER_CANDIDATES, constants.R_OK);
  const missing = [
    ...(server === undefined ? ['mariadbd (MariaDB server)'] : []),
    ...(provider === undefined ? ['libgalera_smm.so (Galera 4 provider)'] : []),
    // The state snapshot transfer of a joining node runs rsync on both ends.
    ...(onPath('rsync') === undefined ? ['rsync'] : []),
    ...(onPath('wsrep_sst_rsync', SERVER_DIRS) === undefined ? ['wsrep_sst_rsync (MariaDB server)'] : []),
  ];
  if (server === undefined || provider === undefined || missing.length > 0) {
    return `Galera is not installed (missing: ${missing.join(', ')}); install it with: ${GALERA_INSTALL_HINT}`;
  }
  return { server, provider };
}
