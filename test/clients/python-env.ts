/**
 * Locates a Python that can run the test clients in this folder (grpcio and protobuf importable).
 *
 * Debian's `python3-grpcio` and `python3-protobuf` install into /usr/bin/python3's site-packages,
 * while a `python3` found first on PATH (pyenv, venvs) usually lacks them, so /usr/bin/python3 is
 * tried first. The clients need no protoc: they build their messages from descriptors at run time.
 */
import { spawnSync } from 'node:child_process';

/** Debian packages that provide everything the Python test clients import. */
export const GRPC_PYTHON_DEBIAN_PACKAGES = ['python3-grpcio', 'python3-protobuf'] as const;

const CANDIDATES = ['/usr/bin/python3', 'python3'] as const;

/** Generous: importing grpc takes well under a second, but CI machines can be slow and cold. */
const IMPORT_CHECK_TIMEOUT_MS = 20_000;

export function findGrpcPython(): { python: string } | { missing: string } {
  const failures: string[] = [];
  for (const python of CANDIDATES) {
    const result = spawnSync(python, ['-c', 'import grpc, google.protobuf'], {
      encoding: 'utf8',
      timeout: IMPORT_CHECK_TIMEOUT_MS,
    });
    if (result.status === 0) {
      return { python };
    }
    const reason = result.error?.message ?? lastLine(result.stderr) ?? `exit status ${result.status}`;
    failures.push(`${python}: ${reason}`);
  }
  return {
    missing: `no Python with grpcio and protobuf (${failures.join('; ')}); ` + `install with: apt-get install -y ${GRPC_PYTHON_DEBIAN_PACKAGES.join(' ')}`,
  };
}

function lastLine(text: string | null): string | undefined {
  const line = text?.trim().split('\n').at(-1);
  return line === undefined || line === '' ? undefined : line;
}
