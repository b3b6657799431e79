/**
 * Draws a V8 .cpuprofile (node --cpu-prof) as an SVG flame graph: each box is
 * a function, as wide as the share of busy samples it was on the stack for,
 * drawn above its caller. Idle and "(program)" samples are left out, so the
 * width is the process's busy time; hover a box for its name and share.
 *
 *   tsx scripts/bench/flame-graph.ts PROFILE.cpuprofile OUT.svg [--title TEXT] [--min-share 0.002] [--skip-ms 0]
 *
 * --skip-ms leaves out the profile's first milliseconds (start-up: module loading).
 *
 * Colours: the service's own code (src/) red, dependencies orange, Node.js
 * and V8 grey.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Frame {
  name: string;
  kind: 'own' | 'dependency' | 'runtime';
  samples: number;
  children: Map<string, Frame>;
}

const WIDTH = 1200;
const ROW = 16;

function frameOf(node: ProfileNode): { name: string; kind: Frame['kind'] } {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.includes('node_modules/') ? url.replace(/^.*node_modules\//, '') : url.replace(/^.*?\/((src|scripts|test)\/)/, '$1');
  const kind: Frame['kind'] = url.includes('node_modules/') ? 'dependency' : /\/(src|scripts|test)\//.test(url) ? 'own' : 'runtime';
  return { name: `${functionName || '(anonymous)'}${where ? ` ${where}:${lineNumber + 1}` : ''}`, kind };
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { title: { type: 'string' }, 'min-share': { type: 'string', default: '0.002' }, 'skip-ms': { type: 'string', default: '0' } },
  });
  const [input, output] = positionals;
  if (!input || !output) {
    console.error('usage: tsx scripts/bench/flame-graph.ts PROFILE.cpuprofile OUT.svg [--title TEXT] [--min-share 0.002] [--skip-ms 0]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(input, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const root: Frame = { name: 'all busy samples', kind: 'runtime', samples: 0, children: new Map() };
  const skipUs = Number(values['skip-ms']) * 1000;
  let elapsedUs = 0;
  for (const [i, id] of profile.samples.entries()) {
    elapsedUs += profile.timeDeltas[i] ?? 0;
    if (elapsedUs < skipUs) continue;
    const leaf = byId.get(id);
    if (!leaf || leaf.callFrame.functionName === '(idle)' || leaf.callFrame.functionName === '(program)') continue;
    const stack: ProfileNode[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(byId.get(cur)!);
    stack.pop(); // V8's "(root)"
    root.samples++;
    let frame = root;
    for (const node of stack.reverse()) {
      const { name, kind } = frameOf(node);
      let child = frame.children.get(name);
      if (!child) {
        child = { name, kind, samples: 0, children: new Map() };
        frame.children.set(name, child);
      }
      child.samples++;
      frame = child;
    }
  }
  if (root.samples === 0) throw new Error(`${input} has no busy samples`);

  const minShare = Number(values['min-share']);
  const boxes: string[] = [];
  let depth = 0;
  const colours = { own: '#e05d44', dependency: '#f0a030', runtime: '#b8b8b8' };
  const draw = (frame: Frame, x: number, level: number): void => {
    const share = frame.samples / root.samples;
    if (share < minShare) return;
    depth = Math.max(depth, level);
    const w = share * WIDTH;
    boxes.push(
      `<g transform="translate(${x.toFixed(2)},${level})"><title>${escapeXml(frame.name)} — ${(100 * share).toFixed(1)} %</title>` +
        `<rect width="${Math.max(w - 0.5, 0.5).toFixed(2)}" height="${ROW - 1}" fill="${colours[frame.kind]}"/>` +
        (w > 40 ? `<text x="3" y="${ROW - 4}">${escapeXml(frame.name.slice(0, Math.floor(w / 6.5)))}</text>` : '') +
        '</g>',
    );
    let childX = x;
    for (const child of [...frame.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      draw(child, childX, level + 1);
      childX += (child.samples / root.samples) * WIDTH;
    }
  };
  draw(root, 0, 0);
  const title = values.title ?? input.replace(/^.*\//, '');
  const height = (depth + 1) * ROW + 40;
  // Levels were drawn top-down; flip so callers sit below their callees.
  const placed = boxes.map((b) =>
    b.replace(/translate\(([\d.]+),(\d+)\)/, (_m, x: string, level: string) => `translate(${x},${height - 10 - (Number(level) + 1) * ROW})`),
  );
  writeFileSync(
    output,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="monospace" font-size="11">` +
      `<text x="4" y="16" font-size="13">${escapeXml(title)} (${root.samples} busy samples; width = share of busy time)</text>` +
      `${placed.join('\n')}</svg>\n`,
  );
  console.log(`wrote ${output}: ${root.samples} busy samples, ${boxes.length} boxes, depth ${depth}`);
}

main();
