import { RawPaymentClient } from '../support/raw-payment-client.js';
import { startTestServer } from '../support/test-server.js';
import { CrashWatch } from './crash-watch.js';
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
  const env: PropertyEnv = {
    primary,
    secondary,
    raw: { primary: new RawPaymentClient(primary.port), secondary: new RawPaymentClient(secondary.port) },
    tally: newTally(),
    lastChargeId: undefined,
    callDeadlineMs: CALL_DEADLINE_MS,
    crashes: new CrashWatch(),
  };
  env.crashes.start();
  return env;
}

export async function stopPropertyEnv(env: PropertyEnv | undefined): Promise<void> {
  if (!env) return;
  env.crashes.stop();
  env.raw.primary.close();
  env.raw.secondary.close();
  await env.secondary.close();
  await env.primary.close();
}
