/**
 * Every command the docs show works as written.
 *
 *   npx tsx scripts/check-docs.ts        (also part of `npm run check`; test/docs-commands.test.ts runs it under `npm test`)
 *
 * Reads README.md and docs/*.md (not docs/examples/) and checks:
 *
 * Shell blocks (fenced ```sh, ```bash, ```shell):
 * - A block with no marker is RUN from the repository root (bash, errexit and pipefail) and must
 *   exit 0 and print something. Only commands that merely print may stand unmarked:
 *   `npm run -s NAME -- --help` (or `-h`, optionally after a subcommand). Any other command in an
 *   unmarked block is a problem: mark the block, or make it one that prints.
 * - A block that needs more than the repository is marked on the line before its fence with
 *   `<!-- needs: a, b -->`, naming what it needs; it is then checked without running. Values:
 *     server     a running service (`npm start`) on 127.0.0.1:50051 and `$API_KEY`
 *     database   writes to the private database of `npm start` (or MYSQL_URL)
 *     tls-files  the development certificates of docs/operations.md under .data/tls
 *     root       installs system packages (apt-get, scripts/install-mysql.sh)
 *     network    downloads (npm install, apt-get)
 *     minutes    starts servers or databases of its own, or runs for minutes (tests, benchmarks)
 *     writes     creates files in the working tree (certificates under .data/, a build, a tarball)
 *     python     Debian's python3-grpcio and python3-protobuf
 *   An unknown value is a problem.
 * - Every block, marked or not, is checked statically, command by command (continuations joined,
 *   comments dropped, `$(...)` and `<(...)` checked as commands of their own):
 *   - `npm run NAME`, `npm start`, `npm test`: the script exists in package.json. Flags after
 *     `--` are ones the script accepts: for a script whose source handles `--help`, the flag (and
 *     any leading subcommand) must appear in its `--help` output, which the check runs; otherwise
 *     the flag must be a `parseArgs` option in its source.
 *   - `npx NAME`: NAME is in node_modules/.bin.
 *   - A command given by a relative path (`scripts/mocha-one.sh`) exists and is executable; a file
 *     given to `node`, `python3` or `npx tsx` exists; a `--flag` given to a Python file appears
 *     in its source (argparse).
 *   - Every argument that names a repository path (`src/`, `test/`, `scripts/`, `docs/`,
 *     `proto/`, `node_modules/`, `.ci/`) exists. Paths under `.data/`, `dist/`, `bench-results/`
 *     and `/tmp/` are made at run time and not checked.
 *   - Environment variables set before a command: for `npm start` they are read by src/config.ts;
 *     for any other command they are read somewhere in src/, scripts/, test/ or docs/examples/
 *     (or are Node's own, like NODE_OPTIONS). `$VAR` references are to variables the doc (or
 *     README.md) sets, or that the code reads.
 *   - grpcurl: flags are grpcurl's; a `pkg.Service/Method` exists in proto/ (or in the file given
 *     by `-proto` under `-import-path`); `describe X` names a service, message or enum there.
 *   - curl to the provider simulator: the `/_sim/...` control path exists in the simulator.
 *   - Any other command word must be a known tool (openssl, apt-get, grpcurl, ...), so a typo or
 *     a command that does not exist is a problem.
 *
 * Besides the shell blocks:
 * - Relative links resolve to files, and `#anchors` to headings (GitHub's slugs).
 * - Inline code that names a repository path exists (globs must match something), and inline
 *   `npm run NAME` names a script.
 * - ```ts and ```python blocks are excerpts of a file in docs/examples/ (which the tests run):
 *   after removing indentation, each part between `// ...` (or `# ...`) lines appears in one of
 *   those files as consecutive lines.
 * - README.md's configuration table lists exactly the variables src/config.ts reads.
 *
 * Prints one line per problem (`file:line: message`) and exits 1 if there is any.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface DocProblem {
  file: string;
  line: number;
  message: string;
}

export interface CheckDocsOptions {
  /** Run the unmarked blocks (default true). */
  run?: boolean;
  /** Documents to check, relative to the root (default README.md and docs/*.md). */
  files?: string[];
}

/** What a marked block may say it needs (see the header). */
export const NEEDS = ['server', 'database', 'tls-files', 'root', 'network', 'minutes', 'writes', 'python'] as const;

/** A printing command gets this long; the --help of a tsx script starts in a second or two. */
const RUN_TIMEOUT_MS = 60_000;

const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell']);
const SNIPPET_LANGUAGES = new Set(['ts', 'typescript', 'python', 'py']);
/** Repository folders whose paths, when named in a doc, must exist. */
const REPO_PATH = /^(\.\/)?(src|test|scripts|docs|proto|node_modules|\.ci)\//;
/** Made at run time by the service, a build or a doc's own commands; never in the repository. */
const RUNTIME_PATH = /^(\.\/)?(\.data|dist|bench-results)(\/|$)|^\/tmp\//;
/** Set by Node, npm or the shell, or by the reader's machine: not the project's to read. */
const STANDARD_ENV = new Set(['NODE_OPTIONS', 'PATH', 'HOME', 'CI', 'USER', 'PWD']);

/** Tools a doc may call that are not part of the repository. */
const KNOWN_COMMANDS = new Set([
  'apt-get', 'base64', 'brew', 'cat', 'cd', 'curl', 'echo', 'export', 'go', 'grpcurl', 'kill', 'ls', 'mkdir', 'node', 'npm', 'npx',
  'nvm', 'openssl', 'perf', 'printf', 'protoc', 'python3', 'strace', 'sudo', 'uuidgen',
]);

/** grpcurl's flags (1.8/1.9), and which of them take a value. */
const GRPCURL_FLAGS_WITH_VALUE = new Set([
  'H', 'rpc-header', 'reflect-header', 'd', 'format', 'cacert', 'cert', 'key', 'import-path', 'proto', 'protoset', 'connect-timeout',
  'max-time', 'keepalive-time', 'authority', 'servername', 'max-msg-sz', 'msg-template', 'user-agent', 'protoset-out',
]);
const GRPCURL_FLAGS = new Set([
  ...GRPCURL_FLAGS_WITH_VALUE, 'plaintext', 'insecure', 'v', 'vv', 'emit-defaults', 'allow-unknown-fields', 'format-error', 'unix',
  'use-reflection', 'version', 'help', 'expand-headers', 'alts',
]);

// ---------------------------------------------------------------------------------------------
// Markdown

interface Fence {
  lang: string;
  /** 1-based line of the opening fence. */
  line: number;
  body: string;
  /** Values of a `<!-- needs: ... -->` marker on the line before the fence; undefined without one. */
  needs: string[] | undefined;
}

interface ParsedDoc {
  file: string;
  fences: Fence[];
  /** Lines outside fences, with their 1-based numbers. */
  prose: Array<{ line: number; text: string }>;
  anchors: Set<string>;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, numbered if repeated. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function parseDoc(file: string, text: string): ParsedDoc {
  const lines = text.split('\n');
  const fences: Fence[] = [];
  const prose: ParsedDoc['prose'] = [];
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let open: { lang: string; line: number; body: string[]; needs: string[] | undefined } | undefined;
  let lastNonEmpty = '';
  lines.forEach((raw, i) => {
    if (open) {
      if (/^```\s*$/.test(raw)) {
        fences.push({ lang: open.lang, line: open.line, body: open.body.join('\n'), needs: open.needs });
        open = undefined;
      } else {
        open.body.push(raw);
      }
      return;
    }
    const fence = /^```(\S*)\s*$/.exec(raw);
    if (fence) {
      const marker = /^<!--\s*needs:\s*(.*?)\s*-->$/.exec(lastNonEmpty.trim());
      const needs = marker?.[1] !== undefined ? marker[1].split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
      open = { lang: fence[1] ?? '', line: i + 1, body: [], needs };
      return;
    }
    prose.push({ line: i + 1, text: raw });
    if (raw.trim() !== '') lastNonEmpty = raw;
    const heading = /^#{1,6}\s+(.*)$/.exec(raw);
    if (heading?.[1] !== undefined) {
      const base = slug(heading[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
  });
  return { file, fences, prose, anchors };
}

// ---------------------------------------------------------------------------------------------
// A small shell reader: enough of bash for documentation commands

interface Word {
  /** The word with quotes removed (expansions left as written). */
  text: string;
  /** Contains a `$` expansion or a glob, so its value is not known statically. */
  dynamic: boolean;
}

interface SimpleCommand {
  assignments: Array<{ name: string; value: string }>;
  words: Word[];
}

/** Splits one logical line into simple commands; `$(...)` and `<(...)` bodies are returned as commands too. */
function parseCommands(line: string): SimpleCommand[] {
  const commands: SimpleCommand[] = [];
  let words: Word[] = [];
  let current = '';
  let dynamic = false;
  let inWord = false;
  const endWord = (): void => {
    if (inWord) words.push({ text: current, dynamic });
    current = '';
    dynamic = false;
    inWord = false;
  };
  const endCommand = (): void => {
    endWord();
    if (words.length > 0) commands.push(toSimple(words));
    words = [];
  };
  /** Index just past the `)` that closes a `(` opened before `start`. */
  const closing = (start: number): number => {
    let depth = 1;
    let quote: string | undefined;
    for (let j = start; j < line.length; j++) {
      const c = line[j];
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && quote === '"') j++;
      } else if (c === "'" || c === '"') quote = c;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) return j;
    }
    return line.length;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const next = line[i + 1];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      current += line.slice(i + 1, end === -1 ? line.length : end);
      inWord = true;
      i = end === -1 ? line.length : end;
    } else if (c === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          current += line[j + 1] ?? '';
          j++;
        } else if (line[j] === '$' && line[j + 1] === '(') {
          const end = closing(j + 2);
          commands.push(...parseCommands(line.slice(j + 2, end)));
          current += '$(...)';
          dynamic = true;
          j = end;
        } else {
          if (line[j] === '$') dynamic = true;
          current += line[j];
        }
      }
      i = j;
    } else if (c === '\\') {
      current += next ?? '';
      inWord = true;
      i++;
    } else if ((c === '$' || c === '<') && next === '(') {
      const end = closing(i + 2);
      commands.push(...parseCommands(line.slice(i + 2, end)));
      current += c === '$' ? '$(...)' : '<(...)';
      dynamic = true;
      inWord = true;
      i = end;
    } else if (c === '#' && !inWord) {
      break; // a comment runs to the end of the line
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else if (c === ';' || c === '|' || c === '&') {
      endCommand();
      if (next === c) i++;
    } else if (c === '>' || (c === '<' && !inWord)) {
      // A redirection: drop it and its target.
      endWord();
      if (next === '>' || next === '&') i++;
      while (line[i + 1] === ' ') i++;
      let j = i + 1;
      while (j < line.length && line[j] !== ' ') j++;
      i = j;
    } else {
      if (c === '$' || c === '*') dynamic = true;
      current += c;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}

function toSimple(words: Word[]): SimpleCommand {
  const assignments: SimpleCommand['assignments'] = [];
  let i = 0;
  for (; i < words.length; i++) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(words[i]!.text);
    if (!m) break;
    assignments.push({ name: m[1]!, value: m[2]! });
  }
  // A redirection like `2>&1` leaves a bare digit behind.
  const rest = words.slice(i).filter((w) => !/^[0-9]$/.test(w.text));
  return { assignments, words: rest };
}

/** Logical lines of a block: continuations joined, blank lines dropped. */
function logicalLines(body: string, firstLine: number): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let pending: { line: number; text: string } | undefined;
  body.split('\n').forEach((raw, i) => {
    const n = firstLine + 1 + i;
    const continued = /\\\s*$/.test(raw);
    const text = continued ? raw.replace(/\\\s*$/, ' ') : raw;
    pending = pending ? { line: pending.line, text: pending.text + text } : { line: n, text };
    if (!continued) {
      if (pending.text.trim() !== '') out.push(pending);
      pending = undefined;
    }
  });
  if (pending && pending.text.trim() !== '') out.push(pending);
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the repository offers

interface Repository {
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

function walk(dir: string, out: string[] = []): string[] {
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
function protoSymbolsOf(text: string, into: Set<string>): void {
  const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(text)?.[1];
  const q = (name: string): string => (pkg ? `${pkg}.${name}` : name);
  for (const m of text.matchAll(/^\s*(?:message|enum)\s+(\w+)/gm)) into.add(q(m[1]!));
  for (const service of text.matchAll(/^\s*service\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    into.add(q(service[1]!));
    for (const rpc of service[2]!.matchAll(/\brpc\s+(\w+)\s*\(/g)) into.add(`${q(service[1]!)}/${rpc[1]!}`);
  }
}

function loadRepository(root: string): Repository {
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
function entryOf(repo: Repository, script: string): string | undefined {
  const command = repo.scripts[script];
  return command === undefined ? undefined : /(\S+\.ts)\b/.exec(command)?.[1];
}

/** `npm run -s NAME -- --help` output, for scripts whose source handles --help; undefined otherwise. */
function helpOf(repo: Repository, script: string): string | undefined {
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
function parseArgsOptionsOf(repo: Repository, entry: string): Set<string> {
  const names = new Set<string>();
  const dir = path.join(repo.root, path.dirname(entry));
  for (const file of [path.join(repo.root, entry), ...readdirSync(dir).map((f) => path.join(dir, f))]) {
    if (!file.endsWith('.ts')) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/['"]?([a-z][a-z0-9-]*)['"]?\s*:\s*\{\s*type:\s*['"](?:string|boolean)['"]/g)) names.add(m[1]!);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Checking commands

interface BlockContext {
  repo: Repository;
  doc: string;
  line: number;
  /** Shell variables the doc (and README.md) sets. */
  shellVars: Set<string>;
  problems: DocProblem[];
  /** Directory the commands run in, relative to the root (after `cd`). */
  cwd: string;
}

function problem(ctx: BlockContext, message: string): void {
  ctx.problems.push({ file: ctx.doc, line: ctx.line, message });
}

function exists(ctx: BlockContext, p: string): boolean {
  return existsSync(path.resolve(ctx.repo.root, ctx.cwd, p));
}

/** A repository path named as an argument must exist; run-time paths and placeholders are skipped. */
function checkPathWord(ctx: BlockContext, word: Word): void {
  const value = word.text.replace(/^[a-z-]+=/, ''); // --flag=path
  if (word.dynamic || value.includes('...') || /[<>]|PORT/.test(value)) return;
  if (RUNTIME_PATH.test(value) || ctx.cwd !== '.') return;
  if (REPO_PATH.test(value) && !exists(ctx, value)) problem(ctx, `no such file or directory: ${value}`);
}

function checkFlags(ctx: BlockContext, script: string, args: Word[]): void {
  const entry = entryOf(ctx.repo, script);
  if (entry === undefined || !existsSync(path.join(ctx.repo.root, entry))) return;
  const help = helpOf(ctx.repo, script);
  const flags = args.filter((a) => /^--?[a-zA-Z]/.test(a.text)).map((a) => a.text.replace(/=.*$/, ''));
  if (help !== undefined) {
    const offered = new Set([...(help.match(/--?[a-zA-Z][a-zA-Z0-9-]*/g) ?? []), '--help', '-h']);
    for (const flag of flags) if (!offered.has(flag)) problem(ctx, `npm run ${script}: ${flag} is not in its --help`);
    // Leading words before any flag are subcommands: each must appear in the help text.
    for (const word of args) {
      if (word.text.startsWith('-')) break;
      if (!word.dynamic && !new RegExp(`\\b${word.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(help)) {
        problem(ctx, `npm run ${script}: subcommand "${word.text}" is not in its --help`);
      }
    }
  } else {
    const options = parseArgsOptionsOf(ctx.repo, entry);
    for (const flag of flags) if (!options.has(flag.replace(/^--?/, ''))) problem(ctx, `npm run ${script}: ${flag} is not an option of ${entry}`);
  }
}

function checkNpm(ctx: BlockContext, args: Word[]): void {
  const sub = args[0]?.text;
  if (sub === undefined) return problem(ctx, 'npm without a command');
  if (sub === 'start' || sub === 'test') {
    if (ctx.repo.scripts[sub] === undefined) problem(ctx, `package.json has no "${sub}" script`);
    return;
  }
  if (sub === 'run' || sub === 'run-script') {
    const rest = args.slice(1).filter((w) => w.text !== '-s' && w.text !== '--silent');
    const name = rest[0]?.text;
    if (name === undefined) return problem(ctx, 'npm run without a script name');
    if (ctx.repo.scripts[name] === undefined) return problem(ctx, `package.json has no "${name}" script`);
    const dashes = rest.findIndex((w) => w.text === '--');
    const scriptArgs = dashes === -1 ? rest.slice(1).filter((w) => !w.text.startsWith('-')) : rest.slice(dashes + 1);
    if (dashes === -1 && rest.slice(1).some((w) => w.text.startsWith('-'))) problem(ctx, `npm run ${name}: flags for the script go after \`--\``);
    checkFlags(ctx, name, scriptArgs);
    for (const w of scriptArgs) checkPathWord(ctx, w);
    return;
  }
  if (!['install', 'ci', 'pack', 'exec'].includes(sub)) problem(ctx, `npm ${sub}: not a command the docs are expected to use`);
  for (const w of args.slice(1)) checkPathWord(ctx, w);
}

function checkPython(ctx: BlockContext, args: Word[]): void {
  const file = args.find((w) => !w.text.startsWith('-'));
  if (!file || file.dynamic) return;
  if (!exists(ctx, file.text)) return problem(ctx, `no such file: ${file.text}`);
  const source = readFileSync(path.resolve(ctx.repo.root, ctx.cwd, file.text), 'utf8');
  for (const w of args.slice(args.indexOf(file) + 1)) {
    if (/^--[a-z]/.test(w.text) && !source.includes(`"${w.text.replace(/=.*$/, '')}"`)) problem(ctx, `${file.text} has no option ${w.text}`);
    else checkPathWord(ctx, w);
  }
}

function checkGrpcurl(ctx: BlockContext, args: Word[]): void {
  const positionals: Word[] = [];
  let importPath: string | undefined;
  let protoFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const w = args[i]!;
    const flag = /^--?([a-zA-Z][a-zA-Z0-9-]*)(=.*)?$/.exec(w.text);
    if (!flag) {
      positionals.push(w);
      continue;
    }
    const name = flag[1]!;
    if (!GRPCURL_FLAGS.has(name)) problem(ctx, `grpcurl has no flag -${name}`);
    if (GRPCURL_FLAGS_WITH_VALUE.has(name) && flag[2] === undefined) {
      const value = args[++i];
      if (value === undefined) continue;
      if (name === 'import-path') importPath = value.text;
      if (name === 'proto') protoFile = value.text;
      checkPathWord(ctx, value);
    }
  }
  const symbols = new Set(ctx.repo.protoSymbols);
  if (protoFile !== undefined) {
    const file = path.resolve(ctx.repo.root, ctx.cwd, importPath ?? '.', protoFile);
    if (!existsSync(file)) problem(ctx, `grpcurl: no proto ${protoFile} under ${importPath ?? '.'}`);
    else protoSymbolsOf(readFileSync(file, 'utf8'), symbols);
  }
  // positionals: [address] (list [service] | describe [symbol] | method)
  const [, verb, symbol] = positionals;
  if (verb === undefined || verb.dynamic) return;
  if (verb.text === 'list' || verb.text === 'describe') {
    if (symbol !== undefined && !symbol.dynamic && !symbols.has(symbol.text)) problem(ctx, `grpcurl ${verb.text}: no ${symbol.text} in the proto`);
  } else if (!symbols.has(verb.text)) {
    problem(ctx, `grpcurl: no method ${verb.text} in the proto`);
  }
}

function checkCurl(ctx: BlockContext, args: Word[]): void {
  let method = 'GET';
  for (let i = 0; i < args.length; i++) {
    if (args[i]!.text === '-X') method = args[i + 1]?.text ?? method;
    if (args[i]!.text === '-d' && method === 'GET') method = 'POST';
  }
  for (const w of args) {
    const m = /^https?:\/\/[^/\s]+(\/_sim\/[\w/]+)/.exec(w.text);
    if (m && !ctx.repo.simulatorRoutes.includes(`'${method} ${m[1]!}'`)) problem(ctx, `the provider simulator has no ${method} ${m[1]!}`);
  }
}

function checkEnv(ctx: BlockContext, command: SimpleCommand): void {
  const isStart = command.words[0]?.text === 'npm' && command.words[1]?.text === 'start';
  for (const { name } of command.assignments) {
    if (command.words.length === 0) {
      ctx.shellVars.add(name); // a plain shell variable: KEY=$(uuidgen)
      continue;
    }
    if (STANDARD_ENV.has(name)) continue;
    if (isStart && !ctx.repo.configEnv.has(name)) problem(ctx, `npm start does not read ${name} (not in src/config.ts)`);
    else if (!isStart && !ctx.repo.codeEnv.has(name)) problem(ctx, `nothing in the repository reads ${name}`);
  }
  for (const w of [...command.words, ...command.assignments.map((a) => ({ text: a.value, dynamic: true }))]) {
    for (const m of w.text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
      const name = m[1]!;
      if (!ctx.shellVars.has(name) && !ctx.repo.codeEnv.has(name) && !STANDARD_ENV.has(name)) problem(ctx, `$${name} is never set by the docs nor read by the code`);
    }
  }
}

function checkCommand(ctx: BlockContext, command: SimpleCommand): void {
  checkEnv(ctx, command);
  let [head, ...args] = command.words;
  if (head === undefined) return;
  if (head.text === 'sudo') [head, ...args] = args;
  if (head === undefined) return;
  const name = head.text;
  if (name === 'export') {
    for (const w of args) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(=|$)/.exec(w.text);
      if (m) ctx.shellVars.add(m[1]!);
    }
    return;
  }
  if (name === 'cd') {
    const target = args[0]?.text ?? '.';
    ctx.cwd = path.normalize(path.join(ctx.cwd, target));
    return;
  }
  if (name.includes('/')) {
    if (name.startsWith('/')) {
      if (/\/python3$/.test(name)) checkPython(ctx, args);
      else problem(ctx, `${name}: call system tools by name, not by absolute path`);
      return;
    }
    if (!exists(ctx, name)) return problem(ctx, `no such command: ${name}`);
    try {
      accessSync(path.resolve(ctx.repo.root, ctx.cwd, name), constants.X_OK);
    } catch {
      problem(ctx, `${name} is not executable`);
    }
    for (const w of args) checkPathWord(ctx, w);
    return;
  }
  if (!KNOWN_COMMANDS.has(name)) return problem(ctx, `unknown command: ${name}`);
  switch (name) {
    case 'npm':
      return checkNpm(ctx, args);
    case 'npx': {
      const tool = args[0]?.text;
      if (tool === undefined || !ctx.repo.bins.has(tool)) problem(ctx, `npx ${tool ?? ''}: not in node_modules/.bin`);
      for (const w of args.slice(1)) checkPathWord(ctx, w);
      return;
    }
    case 'node': {
      for (let i = 0; i < args.length; i++) {
        const w = args[i]!;
        if (['-p', '-pe', '-e', '--eval', '--print'].includes(w.text)) return; // the rest is a script
        if (w.text === '--import' || w.text === '--require' || w.text === '-r') i++;
        else if (!w.text.startsWith('-')) {
          if (!w.dynamic && !exists(ctx, w.text)) problem(ctx, `no such file: ${w.text}`);
          return;
        }
      }
      return;
    }
    case 'python3':
      return checkPython(ctx, args);
    case 'grpcurl':
      return checkGrpcurl(ctx, args);
    case 'curl':
      return checkCurl(ctx, args);
    default:
      for (const w of args) checkPathWord(ctx, w);
  }
}

/** Commands that only print, which an unmarked block may run. */
function printsOnly(command: SimpleCommand): boolean {
  const words = command.words.map((w) => w.text);
  if (command.assignments.length > 0 || words[0] !== 'npm' || words[1] !== 'run') return false;
  const rest = words.slice(2).filter((w) => w !== '-s' && w !== '--silent');
  const last = rest[rest.length - 1];
  return rest[1] === '--' && (last === '--help' || last === '-h') && rest.slice(2, -1).every((w) => /^[a-z]+$/.test(w));
}

function runBlock(repo: Repository, body: string): { ok: boolean; output: string } {
  const result = spawnSync('bash', ['-o', 'errexit', '-o', 'pipefail', '-c', body], { cwd: repo.root, encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  return { ok: result.status === 0 && (result.stdout ?? '').trim() !== '', output };
}

// ---------------------------------------------------------------------------------------------
// Links, inline code, snippets, the configuration table

function checkLinks(docs: Map<string, ParsedDoc>, root: string, doc: ParsedDoc, problems: DocProblem[]): void {
  for (const { line, text } of doc.prose) {
    const withoutCode = text.replace(/`[^`]*`/g, '');
    for (const m of withoutCode.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = file === '' ? doc.file : path.normalize(path.join(path.dirname(doc.file), file));
      if (!existsSync(path.join(root, resolved))) {
        problems.push({ file: doc.file, line, message: `broken link: ${target}` });
        continue;
      }
      if (anchor === undefined || !resolved.endsWith('.md')) continue;
      const targetDoc = docs.get(resolved) ?? parseDoc(resolved, readFileSync(path.join(root, resolved), 'utf8'));
      if (!targetDoc.anchors.has(anchor)) problems.push({ file: doc.file, line, message: `no heading for #${anchor} in ${resolved}` });
    }
  }
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(?:.*/)?').replace(/\*/g, '[^/]*');
  return new RegExp(`^${escaped}$`);
}

function checkInlineCode(repo: Repository, doc: ParsedDoc, problems: DocProblem[]): void {
  let files: string[] | undefined;
  for (const { line, text } of doc.prose) {
    for (const m of text.matchAll(/`([^`]+)`/g)) {
      const code = m[1]!.trim();
      const npm = /^npm run (?:-s )?([\w:-]+)/.exec(code);
      if (npm && repo.scripts[npm[1]!] === undefined) problems.push({ file: doc.file, line, message: `package.json has no "${npm[1]!}" script` });
      if (!REPO_PATH.test(code) || /\s|<|\.\.\.|PORT/.test(code)) continue;
      const p = code.replace(/^\.\//, '').replace(/\/$/, '');
      if (p.includes('*')) {
        files ??= ['src', 'test', 'scripts', 'docs', 'proto'].flatMap((d) => walk(path.join(repo.root, d))).map((f) => path.relative(repo.root, f));
        const re = globToRegExp(p);
        if (!files.some((f) => re.test(f))) problems.push({ file: doc.file, line, message: `${code} matches no file` });
      } else if (!existsSync(path.join(repo.root, p))) {
        problems.push({ file: doc.file, line, message: `no such file or directory: ${code}` });
      }
    }
  }
}

function dedent(lines: string[]): string[] {
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length);
  const min = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(min).trimEnd());
}

/** Whether every `// ...`-separated part of the snippet appears, dedented, as consecutive lines of the file. */
function isExcerpt(snippet: string, file: string): boolean {
  const fileLines = file.split('\n');
  const parts: string[][] = [[]];
  for (const l of snippet.split('\n')) {
    if (/^\s*(\/\/|#) \.\.\.\s*$/.test(l)) parts.push([]);
    else parts[parts.length - 1]!.push(l);
  }
  let from = 0;
  for (const raw of parts) {
    const part = dedent(raw);
    if (part.every((l) => l === '')) continue;
    let found = -1;
    for (let i = from; i + part.length <= fileLines.length && found === -1; i++) {
      const window = dedent(fileLines.slice(i, i + part.length));
      if (window.every((l, j) => l === part[j])) found = i;
    }
    if (found === -1) return false;
    from = found + part.length;
  }
  return true;
}

function checkSnippets(repo: Repository, doc: ParsedDoc, problems: DocProblem[]): void {
  const examplesDir = path.join(repo.root, 'docs', 'examples');
  const examples = existsSync(examplesDir) ? readdirSync(examplesDir).map((f) => readFileSync(path.join(examplesDir, f), 'utf8')) : [];
  for (const fence of doc.fences) {
    if (!SNIPPET_LANGUAGES.has(fence.lang)) continue;
    if (!examples.some((e) => isExcerpt(fence.body, e))) {
      problems.push({ file: doc.file, line: fence.line, message: `this ${fence.lang} snippet is not an excerpt of a file in docs/examples/ (which the tests run)` });
    }
  }
}

function checkConfigTable(repo: Repository, doc: ParsedDoc, problems: DocProblem[]): void {
  const heading = doc.prose.findIndex((p) => /^## Configuration\s*$/.test(p.text));
  if (heading === -1) {
    problems.push({ file: doc.file, line: 1, message: 'no "## Configuration" section' });
    return;
  }
  const documented = new Set<string>();
  for (const { text } of doc.prose.slice(heading + 1)) {
    if (/^## /.test(text)) break;
    const first = /^\|([^|]*)\|/.exec(text)?.[1] ?? '';
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) documented.add(m[1]!);
  }
  const line = doc.prose[heading]!.line;
  for (const name of repo.configEnv) if (!documented.has(name)) problems.push({ file: doc.file, line, message: `src/config.ts reads ${name}, which the configuration table does not list` });
  for (const name of documented) if (!repo.configEnv.has(name)) problems.push({ file: doc.file, line, message: `the configuration table lists ${name}, which src/config.ts does not read` });
}

// ---------------------------------------------------------------------------------------------

export function defaultDocFiles(root: string): string[] {
  const docsDir = path.join(root, 'docs');
  const docs = existsSync(docsDir)
    ? readdirSync(docsDir)
        .filter((f) => f.endsWith('.md') && statSync(path.join(docsDir, f)).isFile())
        .sort()
        .map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...docs];
}

export function checkDocs(root: string, options: CheckDocsOptions = {}): DocProblem[] {
  const repo = loadRepository(root);
  const files = options.files ?? defaultDocFiles(root);
  const docs = new Map(files.map((f) => [f, parseDoc(f, readFileSync(path.join(root, f), 'utf8'))]));
  const problems: DocProblem[] = [];
  // Variables the README sets (export API_KEY=...) may be used by every page.
  const readmeVars = new Set<string>();
  for (const doc of [...docs.values()].sort((a, b) => (a.file === 'README.md' ? -1 : b.file === 'README.md' ? 1 : 0))) {
    const shellVars = doc.file === 'README.md' ? readmeVars : new Set(readmeVars);
    for (const fence of doc.fences) {
      if (!SHELL_LANGUAGES.has(fence.lang)) continue;
      const ctx: BlockContext = { repo, doc: doc.file, line: fence.line, shellVars, problems, cwd: '.' };
      for (const need of fence.needs ?? []) {
        if (!(NEEDS as readonly string[]).includes(need)) problem(ctx, `unknown need "${need}" (known: ${NEEDS.join(', ')})`);
      }
      if (fence.needs?.length === 0) problem(ctx, 'a needs marker names nothing');
      const commands: SimpleCommand[] = [];
      for (const { line, text } of logicalLines(fence.body, fence.line)) {
        ctx.line = line;
        for (const command of parseCommands(text)) {
          commands.push(command);
          checkCommand(ctx, command);
        }
      }
      ctx.line = fence.line;
      if (fence.needs !== undefined) continue;
      const unsafe = commands.find((c) => !printsOnly(c));
      if (unsafe) {
        problem(ctx, `unmarked block runs "${unsafe.words.map((w) => w.text).join(' ')}": mark it <!-- needs: ... --> or show a command that only prints`);
      } else if (options.run !== false) {
        const { ok, output } = runBlock(repo, fence.body);
        if (!ok) problem(ctx, `the block failed or printed nothing when run:\n${output.trim().split('\n').slice(-10).join('\n')}`);
      }
    }
    checkLinks(docs, root, doc, problems);
    checkInlineCode(repo, doc, problems);
    checkSnippets(repo, doc, problems);
    if (doc.file === 'README.md') checkConfigTable(repo, doc, problems);
  }
  return problems;
}

if (require.main === module) {
  const problems = checkDocs(path.resolve(__dirname, '..'));
  for (const p of problems) process.stderr.write(`${p.file}:${p.line}: ${p.message}\n`);
  if (problems.length > 0) {
    process.stderr.write(`check-docs: ${problems.length} problem(s)\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('check-docs: every command in README.md and docs/*.md checked\n');
  }
}
