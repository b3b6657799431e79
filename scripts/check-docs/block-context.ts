/** What the checks of one shell block share while they walk its commands. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DocProblem } from './doc-problem.js';
import type { Repository } from './repository.js';

export interface BlockContext {
  repo: Repository;
  doc: string;
  line: number;
  /** Shell variables the doc (and README.md) sets. */
  shellVars: Set<string>;
  problems: DocProblem[];
  /** Directory the commands run in, relative to the root (after `cd`). */
  cwd: string;
}

export function problem(ctx: BlockContext, message: string): void {
  ctx.problems.push({ file: ctx.doc, line: ctx.line, message });
}

export function exists(ctx: BlockContext, p: string): boolean {
  return existsSync(path.resolve(ctx.repo.root, ctx.cwd, p));
}
