/** Splitting a Markdown document into fenced blocks, prose lines and heading anchors. */

export interface Fence {
  lang: string;
  /** 1-based line of the opening fence. */
  line: number;
  body: string;
  /** Values of a `<!-- needs: ... -->` marker on the line before the fence; undefined without one. */
  needs: string[] | undefined;
}

export interface ParsedDoc {
  file: string;
  fences: Fence[];
  /** Lines outside fences, with their 1-based numbers. */
  prose: Array<{ line: number; text: string }>;
  anchors: Set<string>;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, numbered if repeated. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

export function parseDoc(file: string, text: string): ParsedDoc {
  const lines = text.split('\n');
  const fences: Fence[] = [];
  const prose: ParsedDoc['prose'] = [];
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let open: { lang: string; line: number; body: string[]; needs: string[] | undefined } | undefined;
  let lastNonEmpty = '';
  lines.forEach((raw, i) => {
    if (open) {
      if (/^```\s*$/.test(raw)) {
        fences.push({ lang: open.lang, line: open.line, body: open.body.join('\n'), needs: open.needs });
        open = undefined;
      } else {
        open.body.push(raw);
      }
      return;
    }
    const fence = /^```(\S*)\s*$/.exec(raw);
    if (fence) {
      const marker = /^<!--\s*needs:\s*(.*?)\s*-->$/.exec(lastNonEmpty.trim());
      const needs =
        marker?.[1] !== undefined
          ? marker[1]
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== '')
          : undefined;
      open = { lang: fence[1] ?? '', line: i + 1, body: [], needs };
      return;
    }
    prose.push({ line: i + 1, text: raw });
    if (raw.trim() !== '') lastNonEmpty = raw;
    const heading = /^#{1,6}\s+(.*)$/.exec(raw);
    if (heading?.[1] !== undefined) {
      const base = slug(heading[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
  });
  return { file, fences, prose, anchors };
}
