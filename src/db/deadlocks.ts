export const ER_LOCK_DEADLOCK = 1213;

/**
 * InnoDB can pick a claim or a completion as a deadlock victim (it rolls the
 * whole transaction back); a handful of attempts always resolves it.
 */
export const MAX_DEADLOCK_ATTEMPTS = 5;

/** The server error number of a driver error, if it has one. */
export function errno(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'errno' in err ? Number((err as { errno: unknown }).errno) : undefined;
}

/**
 * Runs a write again when InnoDB rolled it back as a deadlock victim: it is
 * then as if it never ran. Only for writes that are safe to run twice (the
 * idempotency store's are all conditional on the lease version). Failing
 * instead would leave a row in progress under a live lease, and its key
 * blocked until the lease ends.
 */
export async function retryingDeadlocks<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (errno(err) !== ER_LOCK_DEADLOCK || attempt >= MAX_DEADLOCK_ATTEMPTS) throw err;
    }
  }
}
