/** Relative links resolve to files, and `#anchors` to headings. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DocProblem } from './doc-problem.js';
import { type ParsedDoc, parseDoc } from './markdown.js';

export function checkLinks(docs: Map<string, ParsedDoc>, root: string, doc: ParsedDoc, problems: DocProblem[]): void {
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
