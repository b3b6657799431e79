import { RawPaymentClient } from '../support/raw-payment-client.js';
import { startTestServer } from '../support/test-server.js';
import type { PropertyEnv } from './scenario-runner.js';
import { newTally } from './verdict.js';

/** Calls take milliseconds; the deadline only bounds one that never ends, well inside mocha's timeout. */
const CALL_DEADLINE_MS = 10_000;

/**
 * Two real servers on the run's database and one provider simulator. The second keeps no replays
 * in memory, so a retry sent to it is answered from the database.
 */
export async function startPropertyEnv(): Promise<PropertyEnv> {
  const primary = await startTestServer();
  const secondary = await startTestServer({ sim: primary.sim, replayCacheEntries: 0 });
  return {
    primary,
    secondary,
    raw: { primary: new RawPaymentClient(primary.port), secondary: new RawPaymentClient(secondary.port) },
    tally: newTally(),
    lastChargeId: undefined,
    callDeadlineMs: CALL_DEADLINE_MS,
  };
}

export async function stopPropertyEnv(env: PropertyEnv | undefined): Promise<void> {
  if (!env) return;
  env.raw.primary.close();
  env.raw.secondary.close();
  await env.secondary.close();
  await env.primary.close();
}
