/**
 * The first `maxCodePoints` code points of `text`, never splitting a surrogate pair.
 *
 * A utf8mb4 VARCHAR(n) holds n code points (not UTF-16 units, not bytes), so this is what fits
 * provider text into its column: a value past the column would fail the INSERT (strict mode) after
 * the provider already acted, which is the one failure an idempotent write must never have. A
 * lone surrogate counts as one code point and is kept or dropped whole.
 */
export function truncateCodePoints(text: string, maxCodePoints: number): string {
  // Every code point is at least one UTF-16 unit, so a string this short already fits.
  if (text.length <= maxCodePoints) return text;
  let units = 0;
  let count = 0;
  for (const codePoint of text) {
    if (count === maxCodePoints) break;
    units += codePoint.length;
    count += 1;
  }
  return text.slice(0, units);
}
