/**
 * Checks `condition` every `intervalMs` until it holds (true) or `timeoutMs` has passed (false).
 * Used for what gives no event to wait on: a server accepting connections, a process we did
 * not spawn going away.
 */
export async function pollUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
