/**
 * The servers' idempotency counters (`payments_idempotency_events_total` from
 * each instance's /metrics): evidence that the faults hit the paths they aim at
 * (takeovers, recoveries, fenced writes of the zombie), not only that nothing broke.
 */

const METRIC = 'payments_idempotency_events_total';
/** A local scrape answers in milliseconds; a stopped or dying instance must not hold up the run. */
const SCRAPE_TIMEOUT_MS = 2_000;

/** Counts by event since the instance started; empty when it does not answer. */
export async function scrapeIdempotencyEvents(metricsPort: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let text: string;
  try {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    text = await response.text();
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${METRIC}\\{event="([a-z_]+)"\\} ([0-9.e+]+)$`).exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) counts.set(match[1], Number(match[2]));
  }
  return counts;
}

export function addCounts(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [event, n] of from) into.set(event, (into.get(event) ?? 0) + n);
}

export function describeCounts(counts: ReadonlyMap<string, number>): string {
  const parts = [...counts]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([event, n]) => `${event} ${n}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}
