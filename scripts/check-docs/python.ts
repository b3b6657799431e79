/** `python3 FILE --flag`: the file exists and its source (argparse) names the flag. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type BlockContext, exists, problem } from './block-context.js';
import { checkPathWord } from './paths.js';
import type { Word } from './shell-commands.js';

export function checkPython(ctx: BlockContext, args: Word[]): void {
  const file = args.find((w) => !w.text.startsWith('-'));
  if (!file || file.dynamic) return;
  if (!exists(ctx, file.text)) {
    problem(ctx, `no such file: ${file.text}`);
    return;
  }
  const source = readFileSync(path.resolve(ctx.repo.root, ctx.cwd, file.text), 'utf8');
  for (const w of args.slice(args.indexOf(file) + 1)) {
    if (/^--[a-z]/.test(w.text) && !source.includes(`"${w.text.replace(/=.*$/, '')}"`)) problem(ctx, `${file.text} has no option ${w.text}`);
    else checkPathWord(ctx, w);
  }
}
