/** Environment variables a command sets are read by the code; `$VAR`s are set by the docs or read by the code. */
import { type BlockContext, problem } from './block-context.js';
import type { SimpleCommand } from './shell-commands.js';

/** Set by Node, npm or the shell, or by the reader's machine: not the project's to read. */
const STANDARD_ENV = new Set(['NODE_OPTIONS', 'PATH', 'HOME', 'CI', 'USER', 'PWD']);

export function checkEnv(ctx: BlockContext, command: SimpleCommand): void {
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
      if (!ctx.shellVars.has(name) && !ctx.repo.codeEnv.has(name) && !STANDARD_ENV.has(name))
        problem(ctx, `$${name} is never set by the docs nor read by the code`);
    }
  }
}
