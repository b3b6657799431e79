import { status as Code, logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { Charge, Refund } from '../../src/gen/payments/v1/payments.js';
import { REPLAYED_HEADER } from '../../src/idempotency/idempotency-interceptor.js';
import { http2Unary } from '../support/raw-http2-unary.js';
import type { RawPaymentClient } from '../support/raw-payment-client.js';
import type { TestServer } from '../support/test-server.js';
import type { CrashWatch } from './crash-watch.js';
import type { Step } from './generators/scenario.js';
import { keyRow, keyRowCount, paymentIntentState, providerCounts } from './observed-state.js';
import { type PreparedCall, prepare, type ScenarioState } from './prepared-call.js';
import { checkAnswer, type Observation, type Tally } from './verdict.js';

/** Two servers on one database and one provider simulator: the second keeps no replays in memory, so its replays come from the database. */
export interface PropertyEnv {
  primary: TestServer;
  secondary: TestServer;
  raw: { primary: RawPaymentClient; secondary: RawPaymentClient };
  tally: Tally;
  /** The last charge of the previous scenario (another merchant's). */
  lastChargeId: string | undefined;
  /** Deadline of every call: a call that never ends is reported as DEADLINE_EXCEEDED, with its counterexample. */
  callDeadlineMs: number;
  crashes: CrashWatch;
}

/** What a client observes, reduced to what must be identical on a retry. */
export interface Answer {
  code: number | undefined;
  details: string;
  bytes: Buffer | undefined;
  statusDetails: Buffer | undefined;
  replayed: boolean;
}

/** The level grpc-js logs at in this process (its own default is ERROR). */
function configuredVerbosity(): logVerbosity {
  const level = process.env['GRPC_VERBOSITY']?.toUpperCase();
  return level === 'DEBUG' || level === 'INFO' || level === 'NONE' ? logVerbosity[level] : logVerbosity.ERROR;
}

/** grpc-js logs an error for every header value it drops; bare-HTTP/2 calls send such values on purpose. */
async function withoutGrpcLogs<T>(run: () => Promise<T>): Promise<T> {
  setLogVerbosity(logVerbosity.NONE);
  try {
    return await run();
  } finally {
    setLogVerbosity(configuredVerbosity());
  }
}

function send(env: PropertyEnv, call: PreparedCall, server: 'primary' | 'secondary'): Promise<Answer> {
  return env.crashes.race(sendUnwatched(env, call, server));
}

async function sendUnwatched(env: PropertyEnv, call: PreparedCall, server: 'primary' | 'secondary'): Promise<Answer> {
  if (call.headers.kind === 'http2') {
    const { values } = call.headers;
    const a = await withoutGrpcLogs(() => http2Unary(env[server].port, call.path, call.body, values, env.callDeadlineMs));
    return { code: a.code, details: a.details, bytes: undefined, statusDetails: undefined, replayed: false };
  }
  const a = await env.raw[server].call(call.path, call.body, call.headers.md, env.callDeadlineMs);
  const details = a.trailers.get('grpc-status-details-bin')[0];
  return {
    code: a.code,
    details: a.details,
    bytes: a.bytes,
    statusDetails: Buffer.isBuffer(details) ? details : undefined,
    replayed: a.headers.get(REPLAYED_HEADER)[0] === 'true',
  };
}

async function observe(env: PropertyEnv, state: ScenarioState, call: PreparedCall): Promise<Observation> {
  const pool = env.primary.pool;
  return {
    provider: providerCounts(env.primary.sim),
    row: call.key === undefined ? undefined : await keyRow(pool, state.merchantId, call.key),
    rows: await keyRowCount(pool, state.merchantId),
    targetIntent: paymentIntentState(env.primary.sim, call.target?.providerReference),
  };
}

function describeAnswer(a: Answer): string {
  return `${a.code === undefined ? 'no status' : Code[a.code]} "${a.details}"${a.bytes ? ` (${a.bytes.length} bytes)` : ''}`;
}

/** A retry with the same key and bytes, on each server, must answer exactly as the first call did and ask the provider nothing. */
async function checkRetries(env: PropertyEnv, call: PreparedCall, first: Answer): Promise<void> {
  const before = providerCounts(env.primary.sim);
  for (const server of ['primary', 'secondary'] as const) {
    const again = await send(env, call, server);
    const same =
      again.code === first.code &&
      again.details === first.details &&
      Buffer.compare(again.bytes ?? Buffer.alloc(0), first.bytes ?? Buffer.alloc(0)) === 0 &&
      Buffer.compare(again.statusDetails ?? Buffer.alloc(0), first.statusDetails ?? Buffer.alloc(0)) === 0;
    if (!same) throw new Error(`retry on the ${server} server answered ${describeAnswer(again)}, the first call ${describeAnswer(first)}`);
    if (first.code === Code.OK && !again.replayed) throw new Error(`retry on the ${server} server was not marked ${REPLAYED_HEADER}`);
  }
  const after = providerCounts(env.primary.sim);
  if (after.requests !== before.requests) throw new Error(`retries sent ${after.requests - before.requests} request(s) to the provider`);
}

function remember(state: ScenarioState, call: PreparedCall, answer: Answer): void {
  if (answer.code !== Code.OK || !answer.bytes) return;
  const charge = call.rpc === 'RefundCharge' ? Refund.decode(answer.bytes).charge : Charge.decode(answer.bytes);
  if (!charge) return;
  const i = state.charges.findIndex((c) => c.id === charge.id);
  if (i >= 0) state.charges[i] = charge;
  else state.charges.push(charge);
}

/**
 * Runs one scenario as a fresh merchant against a provider with an empty ledger, checking the
 * property after every step. Throws (with the step and what was seen) on the first violation.
 */
export async function runScenario(env: PropertyEnv, steps: readonly Step[]): Promise<void> {
  env.primary.sim.reset();
  const merchant = await env.primary.newMerchant();
  const state: ScenarioState = { ...merchant, charges: [], keys: [], foreignChargeId: env.lastChargeId };
  for (const [i, step] of steps.entries()) {
    const call = prepare(step, i, state);
    const before = await observe(env, state, call);
    env.tally.requests += 1;
    try {
      const answer = await send(env, call, 'primary');
      const after = await observe(env, state, call);
      await checkAnswer({ pool: env.primary.pool, sim: env.primary.sim, merchantId: state.merchantId }, call, answer, before, after, env.tally);
      await checkRetries(env, call, answer);
      if (call.key !== undefined && !state.keys.includes(call.key)) state.keys.push(call.key);
      remember(state, call, answer);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`step ${i} (${call.rpc}, key ${call.keyKind}, expected ${call.expectation}): ${message}`, { cause: err });
    }
  }
  env.lastChargeId = state.charges.at(-1)?.id ?? env.lastChargeId;
}
