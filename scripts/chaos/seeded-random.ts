/**
 * Seeded pseudo-random numbers for the chaos run: the schedule and every
 * payment's choices come from here, so a seed names one run's plan.
 */

/** A generator of floats in [0, 1). */
export type Random = () => number;

/** mulberry32: small and fast; statistical quality is plenty for picking times and amounts. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * An independent stream per (seed, stream, index): payment 17's choices do not
 * shift when the schedule draws one more number, and the other way round.
 */
export function streamRandom(seed: number, stream: number, index: number): Random {
  return seededRandom(Math.imul(seed, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
}

/** An integer in [min, max]. */
export function intBetween(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}
