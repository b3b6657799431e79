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
 *
 * The parts live in check-docs/: markdown.ts (fences, prose, anchors), shell-commands.ts (the
 * shell reader), repository.ts (what the repository offers), shell-blocks.ts (markers, the
 * per-command checks of commands.ts, npm.ts, grpcurl.ts, python.ts, simulator-curl.ts, env.ts and
 * paths.ts, running unmarked blocks), links.ts, inline-code.ts, snippets.ts, config-table.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { checkConfigTable } from './check-docs/config-table.js';
import type { DocProblem } from './check-docs/doc-problem.js';
import { checkInlineCode } from './check-docs/inline-code.js';
import { checkLinks } from './check-docs/links.js';
import { parseDoc } from './check-docs/markdown.js';
import { loadRepository } from './check-docs/repository.js';
import { checkShellBlocks } from './check-docs/shell-blocks.js';
import { checkSnippets } from './check-docs/snippets.js';

export type { DocProblem } from './check-docs/doc-problem.js';
export { NEEDS } from './check-docs/shell-blocks.js';

export interface CheckDocsOptions {
  /** Run the unmarked blocks (default true). */
  run?: boolean;
  /** Documents to check, relative to the root (default README.md and docs/*.md). */
  files?: string[];
}

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
    checkShellBlocks(repo, doc, shellVars, problems, options.run !== false);
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
