/** One command of a shell block: dispatches on its command word to the check for that tool. */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { type BlockContext, exists, problem } from './block-context.js';
import { checkEnv } from './env.js';
import { checkGrpcurl } from './grpcurl.js';
import { checkNpm } from './npm.js';
import { checkPathWord } from './paths.js';
import { checkPython } from './python.js';
import type { SimpleCommand } from './shell-commands.js';
import { checkCurl } from './simulator-curl.js';

/** Tools a doc may call that are not part of the repository. */
const KNOWN_COMMANDS = new Set([
  'apt-get',
  'base64',
  'brew',
  'cat',
  'cd',
  'curl',
  'echo',
  'export',
  'go',
  'grpcurl',
  'kill',
  'ls',
  'mkdir',
  'node',
  'npm',
  'npx',
  'nvm',
  'openssl',
  'perf',
  'printf',
  'protoc',
  'python3',
  'strace',
  'sudo',
  'uuidgen',
]);

export function checkCommand(ctx: BlockContext, command: SimpleCommand): void {
  checkEnv(ctx, command);
  let [head, ...args] = command.words;
  if (head === undefined) return;
  if (head.text === 'sudo') [head, ...args] = args;
  if (head === undefined) return;
  const name = head.text;
  if (name === 'export') {
    for (const w of args) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(=|$)/.exec(w.text);
      if (m) ctx.shellVars.add(m[1]!);
    }
    return;
  }
  if (name === 'cd') {
    const target = args[0]?.text ?? '.';
    ctx.cwd = path.normalize(path.join(ctx.cwd, target));
    return;
  }
  if (name.includes('/')) {
    if (name.startsWith('/')) {
      if (/\/python3$/.test(name)) checkPython(ctx, args);
      else problem(ctx, `${name}: call system tools by name, not by absolute path`);
      return;
    }
    if (!exists(ctx, name)) {
      problem(ctx, `no such command: ${name}`);
      return;
    }
    try {
      accessSync(path.resolve(ctx.repo.root, ctx.cwd, name), constants.X_OK);
    } catch {
      problem(ctx, `${name} is not executable`);
    }
    for (const w of args) checkPathWord(ctx, w);
    return;
  }
  if (!KNOWN_COMMANDS.has(name)) {
    problem(ctx, `unknown command: ${name}`);
    return;
  }
  switch (name) {
    case 'npm':
      checkNpm(ctx, args);
      return;
    case 'npx': {
      const tool = args[0]?.text;
      if (tool === undefined || !ctx.repo.bins.has(tool)) problem(ctx, `npx ${tool ?? ''}: not in node_modules/.bin`);
      for (const w of args.slice(1)) checkPathWord(ctx, w);
      return;
    }
    case 'node': {
      for (let i = 0; i < args.length; i++) {
        const w = args[i]!;
        if (['-p', '-pe', '-e', '--eval', '--print'].includes(w.text)) return; // the rest is a script
        if (w.text === '--import' || w.text === '--require' || w.text === '-r') i++;
        else if (!w.text.startsWith('-')) {
          // dist/ is built (npm run build): its scripts are checked by their sources.
          const file = /^(\.\/)?dist\/.*\.js$/.test(w.text) ? w.text.replace(/^(\.\/)?dist\//, 'src/').replace(/\.js$/, '.ts') : w.text;
          if (!w.dynamic && !exists(ctx, file)) problem(ctx, `no such file: ${w.text}`);
          return;
        }
      }
      return;
    }
    case 'python3':
      checkPython(ctx, args);
      return;
    case 'grpcurl':
      checkGrpcurl(ctx, args);
      return;
    case 'curl':
      checkCurl(ctx, args);
      return;
    default:
      for (const w of args) checkPathWord(ctx, w);
  }
}
