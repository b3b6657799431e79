/** `npm start`, `npm test`, `npm run NAME -- flags`: the script exists and accepts the flags. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type BlockContext, problem } from './block-context.js';
import { checkPathWord } from './paths.js';
import { entryOf, helpOf, parseArgsOptionsOf } from './repository.js';
import type { Word } from './shell-commands.js';

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

export function checkNpm(ctx: BlockContext, args: Word[]): void {
  const sub = args[0]?.text;
  if (sub === undefined) {
    problem(ctx, 'npm without a command');
    return;
  }
  if (sub === 'start' || sub === 'test') {
    if (ctx.repo.scripts[sub] === undefined) problem(ctx, `package.json has no "${sub}" script`);
    return;
  }
  if (sub === 'run' || sub === 'run-script') {
    const rest = args.slice(1).filter((w) => w.text !== '-s' && w.text !== '--silent');
    const name = rest[0]?.text;
    if (name === undefined) {
      problem(ctx, 'npm run without a script name');
      return;
    }
    if (ctx.repo.scripts[name] === undefined) {
      problem(ctx, `package.json has no "${name}" script`);
      return;
    }
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
