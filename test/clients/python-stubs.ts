/**
 * Python message classes for the test clients, generated from proto/ into a temp dir, offline:
 * `buf build` (a devDependency) compiles proto/ with the well-known types into an image, and
 * Debian's protoc (protobuf-compiler, the release of python3-protobuf) writes
 * DIR/payments/v1/payments_pb2.py from it, so no .proto sources of the well-known types are needed.
 */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const BUF = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');
const PROTOC_CANDIDATES = ['/usr/bin/protoc', 'protoc'] as const;
/** buf build plus protoc take about a second; generous for cold CI machines. */
const GENERATE_TIMEOUT_MS = 60_000;

export function findProtoc(): { protoc: string } | { missing: string } {
  const failures: string[] = [];
  for (const protoc of PROTOC_CANDIDATES) {
    const result = spawnSync(protoc, ['--version'], { encoding: 'utf8', timeout: GENERATE_TIMEOUT_MS });
    if (result.status === 0) return { protoc };
    failures.push(`${protoc}: ${result.error?.message ?? (result.stderr.trim() || `exit status ${result.status}`)}`);
  }
  return { missing: `no protoc (${failures.join('; ')}); install with: apt-get install -y protobuf-compiler` };
}

/** Writes DIR/payments/v1/payments_pb2.py. */
export async function generatePythonStubs(protoc: string, dir: string): Promise<void> {
  const image = path.join(dir, 'payments.binpb');
  await run(BUF, ['build', '-o', image], REPO_ROOT);
  await run(protoc, [`--descriptor_set_in=${image}`, `--python_out=${dir}`, 'payments/v1/payments.proto'], dir);
}

function run(command: string, args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: GENERATE_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${error.message}):\n${stderr}`, { cause: error }));
    });
  });
}
