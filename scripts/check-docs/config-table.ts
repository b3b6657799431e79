/** README.md's configuration table lists exactly the variables src/config.ts reads. */
import type { DocProblem } from './doc-problem.js';
import type { ParsedDoc } from './markdown.js';
import type { Repository } from './repository.js';

export function checkConfigTable(repo: Repository, doc: ParsedDoc, problems: DocProblem[]): void {
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
  for (const name of repo.configEnv)
    if (!documented.has(name)) problems.push({ file: doc.file, line, message: `src/config.ts reads ${name}, which the configuration table does not list` });
  for (const name of documented)
    if (!repo.configEnv.has(name)) problems.push({ file: doc.file, line, message: `the configuration table lists ${name}, which src/config.ts does not read` });
}
