/** What the repository offers a doc: npm scripts, bins, env variables read, proto symbols, --help texts. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** A printing command gets this long; the --help of a tsx script starts in a second or two. */
export const RUN_TIMEOUT_MS = 60_000;

export interface Repository {
  root: string;
  scripts: Record<string, string>;
  bins: Set<string>;
  /** Environment variables src/config.ts reads. */
  configEnv: Set<string>;
  /** Environment variables read anywhere in the code, the tests and the examples. */
  codeEnv: Set<string>;
  /** Fully qualified services, messages and enums, and `Service/Method` paths, of proto/. */
  protoSymbols: Set<string>;
  simulatorRoutes: string;
  help: Map<string, string | undefined>;
  read(file: string): string;
}

export function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'gen' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else out.push(full);
  }
  return out;
}

/** Names read as `process.env['X']`, `process.env.X`, `env['X']`, `(env, 'X'` or `os.environ[...]`/`.get(...)`. */
function envNamesIn(text: string): string[] {
  const names: string[] = [];
  const patterns = [
    /process\.env\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
    /process\.env\.([A-Z][A-Z0-9_]*)/g,
    /\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
    /\(env,\s*['"]([A-Z][A-Z0-9_]*)['"]/g,
    /os\.environ(?:\.get\(|\[)\s*['"]([A-Z][A-Z0-9_]*)['"]/g,
    // helpers that take the variable's name first: positiveInt('PROPERTY_RUNS', ...)
    /\b\w*(?:[Ee]nv|Int|Number|Bool)\w*\(\s*['"]([A-Z][A-Z0-9_]+)['"]/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) names.push(m[1]!);
  return names;
}

/** Symbols of a .proto file: package-qualified services, messages, enums and `Service/Method`. */
export function protoSymbolsOf(text: string, into: Set<string>): void {
  const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(text)?.[1];
  const q = (name: string): string => (pkg ? `${pkg}.${name}` : name);
  for (const m of text.matchAll(/^\s*(?:message|enum)\s+(\w+)/gm)) into.add(q(m[1]!));
  for (const service of text.matchAll(/^\s*service\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    into.add(q(service[1]!));
    for (const rpc of service[2]!.matchAll(/\brpc\s+(\w+)\s*\(/g)) into.add(`${q(service[1]!)}/${rpc[1]!}`);
  }
}

export function loadRepository(root: string): Repository {
  const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');
  const pkg = JSON.parse(read('package.json')) as { scripts?: Record<string, string> };
  const binDir = path.join(root, 'node_modules', '.bin');
  const bins = new Set(existsSync(binDir) ? readdirSync(binDir) : []);
  const configEnv = new Set(existsSync(path.join(root, 'src/config.ts')) ? envNamesIn(read('src/config.ts')) : []);
  const codeEnv = new Set<string>(configEnv);
  for (const dir of ['src', 'scripts', 'test', 'docs/examples']) {
    for (const file of walk(path.join(root, dir))) {
      if (/\.(ts|py|sh)$/.test(file)) for (const name of envNamesIn(readFileSync(file, 'utf8'))) codeEnv.add(name);
    }
  }
  const protoSymbols = new Set<string>();
  for (const file of walk(path.join(root, 'proto'))) if (file.endsWith('.proto')) protoSymbolsOf(readFileSync(file, 'utf8'), protoSymbols);
  // The simulator's routes (`'POST /_sim/faults'`, ...) as written in its sources, tests left out.
  const simulatorSources = walk(path.join(root, 'src/simulator')).filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'));
  return {
    root,
    scripts: pkg.scripts ?? {},
    bins,
    configEnv,
    codeEnv,
    protoSymbols,
    simulatorRoutes: simulatorSources.map((file) => readFileSync(file, 'utf8')).join('\n'),
    help: new Map(),
    read,
  };
}

/** The TypeScript file an npm script runs (`tsx scripts/keys.ts` → scripts/keys.ts). */
export function entryOf(repo: Repository, script: string): string | undefined {
  const command = repo.scripts[script];
  return command === undefined ? undefined : /(\S+\.ts)\b/.exec(command)?.[1];
}

/** `npm run -s NAME -- --help` output, for scripts whose source handles --help; undefined otherwise. */
export function helpOf(repo: Repository, script: string): string | undefined {
  if (repo.help.has(script)) return repo.help.get(script);
  const entry = entryOf(repo, script);
  let help: string | undefined;
  if (entry !== undefined && existsSync(path.join(repo.root, entry)) && /--help|\bhelp:/.test(repo.read(entry))) {
    const result = spawnSync('npm', ['run', '-s', script, '--', '--help'], { cwd: repo.root, encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
    help = `${result.stdout ?? ''}\n${result.stderr ?? ''}`;
  }
  repo.help.set(script, help);
  return help;
}

/** `parseArgs` option names in a script's source and the sources beside it. */
export function parseArgsOptionsOf(repo: Repository, entry: string): Set<string> {
  const names = new Set<string>();
  const dir = path.join(repo.root, path.dirname(entry));
  for (const file of [path.join(repo.root, entry), ...readdirSync(dir).map((f) => path.join(dir, f))]) {
    if (!file.endsWith('.ts')) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/['"]?([a-z][a-z0-9-]*)['"]?\s*:\s*\{\s*type:\s*['"](?:string|boolean)['"]/g)) names.add(m[1]!);
  }
  return names;
}
