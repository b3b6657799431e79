/** Repository paths named in a doc must exist; paths made at run time are not checked. */
import { type BlockContext, exists, problem } from './block-context.js';
import type { Word } from './shell-commands.js';

/** Repository folders whose paths, when named in a doc, must exist. */
export const REPO_PATH = /^(\.\/)?(src|test|scripts|docs|proto|node_modules|\.ci)\//;
/** Made at run time by the service, a build or a doc's own commands; never in the repository. */
const RUNTIME_PATH = /^(\.\/)?(\.data|dist|bench-results)(\/|$)|^\/tmp\//;

/** A repository path named as an argument must exist; run-time paths and placeholders are skipped. */
export function checkPathWord(ctx: BlockContext, word: Word): void {
  const value = word.text.replace(/^[a-z-]+=/, ''); // --flag=path
  if (word.dynamic || value.includes('...') || /[<>]|PORT/.test(value)) return;
  if (RUNTIME_PATH.test(value) || ctx.cwd !== '.') return;
  if (REPO_PATH.test(value) && !exists(ctx, value)) problem(ctx, `no such file or directory: ${value}`);
}
