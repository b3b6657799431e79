/**
 * The benchmarks' server processes run compiled, as `npm start` runs the service (tsc output,
 * `node --enable-source-maps`), not through tsx: tsx's transform keeps function names by
 * wrapping every named closure in a call that sets its name, each time the closure is made, so
 * the per-call closures of interceptors and handlers cost more than they do in production
 * (measured back to back at 64 concurrent calls: 18 to 43 µs more server CPU per replay read from
 * the database through tsx: 261 and 280 µs against 218 and 262 compiled).
 *
 * The servers' entry scripts are compiled once per benchmark process into .bench-build/ (tsc,
 * incremental: a few seconds the first time, about one when nothing changed), with the files
 * under src/ that tsc does not emit (migrations, descriptor set) copied next to them, as
 * `npm run build` does for dist/.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(ROOT, '.bench-build');
let built = false;

function build(): void {
  if (built) return;
  process.stderr.write('[bench] compiling the benchmark servers (as npm run build does; production runs compiled code)\n');
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'scripts/bench/tsconfig.servers.json')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  cpSync(path.join(ROOT, 'src'), path.join(OUT, 'src'), { recursive: true, filter: (file) => !file.endsWith('.ts') });
  built = true;
}

/** Node arguments that run `script` (a .ts path under scripts/bench/ listed in tsconfig.servers.json) compiled. */
export function compiledServer(script: string): string[] {
  build();
  const compiled = path.join(OUT, script.replace(/\.ts$/, '.js'));
  if (!existsSync(compiled)) throw new Error(`${script} was not compiled: list it under "files" in scripts/bench/tsconfig.servers.json`);
  return ['--enable-source-maps', compiled];
}
