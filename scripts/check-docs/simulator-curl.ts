/** curl to the provider simulator: the `/_sim/...` control path exists in the simulator. */
import { type BlockContext, problem } from './block-context.js';
import type { Word } from './shell-commands.js';

export function checkCurl(ctx: BlockContext, args: Word[]): void {
  let method = 'GET';
  for (let i = 0; i < args.length; i++) {
    if (args[i]!.text === '-X') method = args[i + 1]?.text ?? method;
    if (args[i]!.text === '-d' && method === 'GET') method = 'POST';
  }
  for (const w of args) {
    const m = /^https?:\/\/[^/\s]+(\/_sim\/[\w/]+)/.exec(w.text);
    if (m && !ctx.repo.simulatorRoutes.includes(`'${method} ${m[1]!}'`)) problem(ctx, `the provider simulator has no ${method} ${m[1]!}`);
  }
}
