/** Inline code that names a repository path exists (globs must match something); inline `npm run NAME` names a script. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DocProblem } from './doc-problem.js';
import type { ParsedDoc } from './markdown.js';
import { REPO_PATH } from './paths.js';
import { type Repository, walk } from './repository.js';

function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*\*\//g, '(?:.*/)?')
    .replace(/\*/g, '[^/]*');
  return new RegExp(`^${escaped}$`);
}

export function checkInlineCode(repo: Repository, doc: ParsedDoc, problems: DocProblem[]): void {
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
