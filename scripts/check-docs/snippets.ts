/** ```ts and ```python blocks are excerpts of a file in docs/examples/ (which the tests run). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DocProblem } from './doc-problem.js';
import type { ParsedDoc } from './markdown.js';
import type { Repository } from './repository.js';

const SNIPPET_LANGUAGES = new Set(['ts', 'typescript', 'python', 'py']);

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

export function checkSnippets(repo: Repository, doc: ParsedDoc, problems: DocProblem[]): void {
  const examplesDir = path.join(repo.root, 'docs', 'examples');
  const examples = existsSync(examplesDir) ? readdirSync(examplesDir).map((f) => readFileSync(path.join(examplesDir, f), 'utf8')) : [];
  for (const fence of doc.fences) {
    if (!SNIPPET_LANGUAGES.has(fence.lang)) continue;
    if (!examples.some((e) => isExcerpt(fence.body, e))) {
      problems.push({
        file: doc.file,
        line: fence.line,
        message: `this ${fence.lang} snippet is not an excerpt of a file in docs/examples/ (which the tests run)`,
      });
    }
  }
}
