/**
 * The shell blocks of one doc: `<!-- needs: ... -->` markers, every command checked statically,
 * and unmarked blocks (which may only print) run.
 */
import { spawnSync } from 'node:child_process';
import { type BlockContext, problem } from './block-context.js';
import { checkCommand } from './commands.js';
import type { DocProblem } from './doc-problem.js';
import type { ParsedDoc } from './markdown.js';
import { type Repository, RUN_TIMEOUT_MS } from './repository.js';
import { logicalLines, parseCommands, type SimpleCommand } from './shell-commands.js';

/** What a marked block may say it needs (see the header of scripts/check-docs.ts). */
export const NEEDS = ['server', 'database', 'tls-files', 'root', 'network', 'minutes', 'writes', 'python'] as const;

const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell']);

/** Commands that only print, which an unmarked block may run. */
function printsOnly(command: SimpleCommand): boolean {
  const words = command.words.map((w) => w.text);
  if (command.assignments.length > 0 || words[0] !== 'npm' || words[1] !== 'run') return false;
  const rest = words.slice(2).filter((w) => w !== '-s' && w !== '--silent');
  const last = rest[rest.length - 1];
  return rest[1] === '--' && (last === '--help' || last === '-h') && rest.slice(2, -1).every((w) => /^[a-z]+$/.test(w));
}

function runBlock(repo: Repository, body: string): { ok: boolean; output: string } {
  const result = spawnSync('bash', ['-o', 'errexit', '-o', 'pipefail', '-c', body], { cwd: repo.root, encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  return { ok: result.status === 0 && (result.stdout ?? '').trim() !== '', output };
}

/**
 * Checks every shell block of `doc`; `shellVars` holds the variables set so far (README.md's
 * for every other page) and gains the ones the blocks set. `run` false checks without running.
 */
export function checkShellBlocks(repo: Repository, doc: ParsedDoc, shellVars: Set<string>, problems: DocProblem[], run: boolean): void {
  for (const fence of doc.fences) {
    if (!SHELL_LANGUAGES.has(fence.lang)) continue;
    const ctx: BlockContext = { repo, doc: doc.file, line: fence.line, shellVars, problems, cwd: '.' };
    for (const need of fence.needs ?? []) {
      if (!(NEEDS as readonly string[]).includes(need)) problem(ctx, `unknown need "${need}" (known: ${NEEDS.join(', ')})`);
    }
    if (fence.needs?.length === 0) problem(ctx, 'a needs marker names nothing');
    const commands: SimpleCommand[] = [];
    for (const { line, text } of logicalLines(fence.body, fence.line)) {
      ctx.line = line;
      for (const command of parseCommands(text)) {
        commands.push(command);
        checkCommand(ctx, command);
      }
    }
    ctx.line = fence.line;
    if (fence.needs !== undefined) continue;
    const unsafe = commands.find((c) => !printsOnly(c));
    if (unsafe) {
      problem(ctx, `unmarked block runs "${unsafe.words.map((w) => w.text).join(' ')}": mark it <!-- needs: ... --> or show a command that only prints`);
    } else if (run) {
      const { ok, output } = runBlock(repo, fence.body);
      if (!ok) problem(ctx, `the block failed or printed nothing when run:\n${output.trim().split('\n').slice(-10).join('\n')}`);
    }
  }
}
