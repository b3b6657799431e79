/** grpcurl: its own flags, and methods, services and messages that the proto defines. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type BlockContext, problem } from './block-context.js';
import { checkPathWord } from './paths.js';
import { protoSymbolsOf } from './repository.js';
import type { Word } from './shell-commands.js';

/** grpcurl's flags (1.8/1.9), and which of them take a value. */
const GRPCURL_FLAGS_WITH_VALUE = new Set([
  'H',
  'rpc-header',
  'reflect-header',
  'd',
  'format',
  'cacert',
  'cert',
  'key',
  'import-path',
  'proto',
  'protoset',
  'connect-timeout',
  'max-time',
  'keepalive-time',
  'authority',
  'servername',
  'max-msg-sz',
  'msg-template',
  'user-agent',
  'protoset-out',
]);
const GRPCURL_FLAGS = new Set([
  ...GRPCURL_FLAGS_WITH_VALUE,
  'plaintext',
  'insecure',
  'v',
  'vv',
  'emit-defaults',
  'allow-unknown-fields',
  'format-error',
  'unix',
  'use-reflection',
  'version',
  'help',
  'expand-headers',
  'alts',
]);

export function checkGrpcurl(ctx: BlockContext, args: Word[]): void {
  const positionals: Word[] = [];
  let importPath: string | undefined;
  let protoFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const w = args[i]!;
    const flag = /^--?([a-zA-Z][a-zA-Z0-9-]*)(=.*)?$/.exec(w.text);
    if (!flag) {
      positionals.push(w);
      continue;
    }
    const name = flag[1]!;
    if (!GRPCURL_FLAGS.has(name)) problem(ctx, `grpcurl has no flag -${name}`);
    if (GRPCURL_FLAGS_WITH_VALUE.has(name) && flag[2] === undefined) {
      const value = args[++i];
      if (value === undefined) continue;
      if (name === 'import-path') importPath = value.text;
      if (name === 'proto') protoFile = value.text;
      checkPathWord(ctx, value);
    }
  }
  const symbols = new Set(ctx.repo.protoSymbols);
  if (protoFile !== undefined) {
    const file = path.resolve(ctx.repo.root, ctx.cwd, importPath ?? '.', protoFile);
    if (!existsSync(file)) problem(ctx, `grpcurl: no proto ${protoFile} under ${importPath ?? '.'}`);
    else protoSymbolsOf(readFileSync(file, 'utf8'), symbols);
  }
  // positionals: [address] (list [service] | describe [symbol] | method)
  const [, verb, symbol] = positionals;
  if (verb === undefined || verb.dynamic) return;
  if (verb.text === 'list' || verb.text === 'describe') {
    if (symbol !== undefined && !symbol.dynamic && !symbols.has(symbol.text)) problem(ctx, `grpcurl ${verb.text}: no ${symbol.text} in the proto`);
  } else if (!symbols.has(verb.text)) {
    problem(ctx, `grpcurl: no method ${verb.text} in the proto`);
  }
}
