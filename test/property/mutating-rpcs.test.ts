import fc from 'fast-check';
import { scenarioArb } from './generators/scenario.js';
import { startPropertyEnv, stopPropertyEnv } from './property-env.js';
import { type PropertyEnv, runScenario } from './scenario-runner.js';

/**
 * Scenarios (fast-check runs) when PROPERTY_RUNS is unset: about 4.8 generated requests each,
 * sized so this file stays well under a minute on two cores in CI. The full profile
 * (docs/property-tests.md) sets PROPERTY_RUNS=2500 for more than 10,000 requests.
 */
const DEFAULT_RUNS = 400;
/** Generous wall-clock budget per scenario for mocha's timeout; scenarios take tens of milliseconds. */
const SCENARIO_BUDGET_MS = 1_000;
/** Room for fast-check to shrink a counterexample and print it before mocha gives up. */
const SHRINK_BUDGET_MS = 300_000;

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** `PROPERTY_SEED` and `PROPERTY_PATH` replay a reported counterexample (fast-check prints both). */
function replayParameters(): { seed?: number; path?: string } {
  const seed = process.env['PROPERTY_SEED'];
  const path = process.env['PROPERTY_PATH'];
  return { ...(seed ? { seed: Number(seed) } : {}), ...(path ? { path } : {}) };
}

describe('property: every mutating request is refused with nothing done, or done exactly once, recorded and replayed', function () {
  const runs = positiveInt('PROPERTY_RUNS', DEFAULT_RUNS);
  this.timeout(runs * SCENARIO_BUDGET_MS + SHRINK_BUDGET_MS);
  let env: PropertyEnv | undefined;

  before(async () => {
    env = await startPropertyEnv();
  });

  after(async () => {
    await stopPropertyEnv(env);
  });

  it('holds for generated sequences of CreateCharge, CaptureCharge, RefundCharge and CancelCharge by fresh merchants', async () => {
    if (!env) throw new Error('servers did not start');
    const e = env;
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(scenarioArb, (steps) => runScenario(e, steps)),
      { numRuns: runs, ...replayParameters() },
    );
    const t = e.tally;
    // One line for the run's figures: the number of generated requests is the acceptance measure.
    console.log(
      `      ${t.requests} generated requests in ${runs} scenarios, ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
        `accepted ${JSON.stringify(t.accepted)}, refused before the provider leaving nothing ${t.refusedLeavingNothing}, ` +
        `refusals stored ${t.refusedStored}, refused by the provider ${t.refusedByProvider}, invalid keys ${t.invalidKeys}`,
    );
  });
});
