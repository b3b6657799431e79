import fc from 'fast-check';
import type { TextLimit } from '../limits.js';

function range(first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => String.fromCodePoint(first + i));
}

/** 64 code points per UTF-8 width, so one index fits one "digit" of the same width (see Text.unique). */
const BY_UTF8_WIDTH: Record<1 | 2 | 3 | 4, readonly string[]> = {
  1: [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'],
  2: range(0xc0, 64), // À..ÿ, é among them
  3: ['€', ...range(0x4e00, 63)], // € and CJK ideographs
  4: range(0x1f600, 64), // emoji: astral, two UTF-16 units each
};

/** Character classes the text generators mix: every UTF-8 width, controls, NUL and syntax of the layers below. */
export const CHAR_CLASSES = {
  ascii: BY_UTF8_WIDTH[1],
  twoByte: BY_UTF8_WIDTH[2],
  threeByte: BY_UTF8_WIDTH[3],
  fourByte: BY_UTF8_WIDTH[4],
  control: [...range(0x01, 31), '\u007f'],
  nul: ['\u0000'],
  /** JSON, form encoding, metadata brackets and header separators. */
  syntax: [...' "\\%&=+[],#?/\n\r\t'],
} as const;

export function utf8Width(ch: string): 1 | 2 | 3 | 4 {
  const cp = ch.codePointAt(0) ?? 0;
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * A generated string kept as a pattern of code points repeated to `count` code points, so a
 * counterexample prints as `text(["中"], 500)` instead of 500 characters, and shrinks by count.
 */
export class Text {
  constructor(
    readonly pattern: readonly string[],
    readonly count: number,
  ) {}

  get value(): string {
    return this.codePoints().join('');
  }

  /** The same text with its last code points replaced by `index` in digits of the same UTF-8 widths, so lengths in every unit stay equal. */
  unique(index: number): string {
    const cps = this.codePoints();
    let rest = index;
    for (let i = cps.length - 1; i >= 0 && i >= cps.length - 2; i -= 1) {
      const digits = BY_UTF8_WIDTH[utf8Width(cps[i] ?? 'a')];
      cps[i] = digits[rest % digits.length] ?? 'a';
      rest = Math.floor(rest / digits.length);
    }
    return cps.join('');
  }

  [fc.toStringMethod](): string {
    return `text(${JSON.stringify(this.pattern)}, ${this.count})`;
  }

  private codePoints(): string[] {
    return Array.from({ length: this.count }, (_, i) => this.pattern[i % this.pattern.length] ?? '');
  }
}

/** Length of `s` in each unit a limit may be counted in. */
export function measures(s: string): { utf16: number; codePoints: number; utf8: number } {
  return { utf16: s.length, codePoints: [...s].length, utf8: Buffer.byteLength(s, 'utf8') };
}

/** Largest n such that the pattern repeated to n code points measures at most `limit` in `unit`. */
function largestCountWithin(pattern: readonly string[], unit: (ch: string) => number, limit: number): number {
  let total = 0;
  let n = 0;
  for (;;) {
    const next = total + unit(pattern[n % pattern.length] ?? '');
    if (next > limit) return n;
    total = next;
    n += 1;
  }
}

/** Counts at and one over a limit in every unit the limit may be meant in (UTF-16 units, code points, UTF-8 bytes). */
export function boundaryCounts(pattern: readonly string[], limit: TextLimit): number[] {
  const at = [
    largestCountWithin(pattern, (ch) => ch.length, limit.chars),
    largestCountWithin(pattern, () => 1, limit.chars),
    ...(limit.bytes !== undefined ? [largestCountWithin(pattern, utf8Width, limit.bytes)] : []),
  ];
  return [...new Set(at.flatMap((n) => [n, n + 1]))];
}

/** One code point of a named class. */
export const charOfClass = (cls: keyof typeof CHAR_CLASSES): fc.Arbitrary<string> => fc.constantFrom(...CHAR_CLASSES[cls]);

/** Any code point: mostly from the named classes, sometimes anything Unicode allows in a valid string. */
export const anyChar: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...(Object.keys(CHAR_CLASSES) as (keyof typeof CHAR_CLASSES)[])).chain(charOfClass), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 1 },
);

/** One character of a single UTF-8 width or JSON-escaped width (controls), repeated: the worst case for a byte limit. */
const widestChar: fc.Arbitrary<string> = fc
  .constantFrom('twoByte', 'threeByte', 'fourByte', 'control', 'nul')
  .chain((cls) => charOfClass(cls as keyof typeof CHAR_CLASSES));

/** A pattern of one repeated character, most often a wide one, or a short mix of widths. */
export const textPattern: fc.Arbitrary<string[]> = fc.oneof(
  { arbitrary: widestChar.map((ch) => [ch]), weight: 2 },
  { arbitrary: anyChar.map((ch) => [ch]), weight: 1 },
  { arbitrary: fc.array(anyChar, { minLength: 2, maxLength: 4 }), weight: 2 },
);

/** Text at or just over the limit in some unit, or of any length up to just over it (empty included). */
export function textNear(limit: TextLimit): fc.Arbitrary<Text> {
  return textPattern.chain((pattern) => {
    const boundaries = boundaryCounts(pattern, limit);
    const longest = Math.max(...boundaries);
    return fc
      .oneof({ arbitrary: fc.constantFrom(...boundaries), weight: 2 }, { arbitrary: fc.integer({ min: 0, max: longest }), weight: 1 }, fc.constant(0))
      .map((count) => new Text(pattern, count));
  });
}

/** Short text well within any limit, empty included: the common case. */
export const shortText: fc.Arbitrary<Text> = textPattern.chain((pattern) => fc.integer({ min: 0, max: 12 }).map((count) => new Text(pattern, count)));
