/** One strategy's run: its servers, warm-up, rounds (with the kill), settling and accounting. */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { PaymentServiceClient } from '../../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../../src/merchants/merchant-store.js';
import type { PaymentIntent } from '../../../src/provider/provider-types.js';
import type { ProviderSimulator } from '../../../src/simulator/simulator.js';
import { type RunFacts, StrategyAccount, type StrategyResult } from './account.js';
import { dropsFirstCharge, KILL_AFTER_MS, killRound, providerLatency } from './faults.js';
import type { Options } from './options.js';
import { log, pct } from './report.js';
import { type ServerProcess, type SharedEnv, startStrategyServer } from './server-process.js';
import { readCharges, SETTLE_DEADLINE_MS, settle } from './settle.js';
import { LABELS, type Strategy } from './strategies.js';
import { type LoadContext, reuseKeys, runPayment, warmUp } from './workload.js';

/** Takes the provider's PaymentIntents and starts a fresh ledger in one synchronous step, so none is missed. */
function drainProvider(sim: ProviderSimulator): PaymentIntent[] {
  const intents = sim.paymentIntents();
  sim.reset();
  providerLatency(sim);
  return intents;
}

function roundsOf(strategy: Strategy, opts: Options): number {
  return strategy === 'atomic-claim' ? opts.rounds : opts.naiveRounds;
}

export async function runStrategy(env: SharedEnv, strategy: Strategy, opts: Options, runId: string): Promise<StrategyResult> {
  const wallStart = performance.now();
  const merchant = await new MerchantStore(env.pool).create(`bench-duplicates ${strategy} ${runId}`);
  drainProvider(env.sim);
  log(`\n== ${LABELS[strategy]} (${strategy}): starting ${opts.servers} server processes`);
  const started = await Promise.allSettled(Array.from({ length: opts.servers }, () => startStrategyServer(strategy, env)));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  // Every instance the strategy ran, the killed one and its replacement included.
  const everyServer = [...servers];
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const clients = servers.map((s) => new PaymentServiceClient(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure()));
  const tag = `${strategy}-${runId}`;
  const rounds = roundsOf(strategy, opts);
  const account = new StrategyAccount(`${tag}-`, rounds * opts.paymentsPerRound);
  // CPU is counted from the end of the warm-up; a replacement from when it listens.
  const cpuBaseline = new Map<ServerProcess, number>();
  let cpuUsed = 0;
  let kill: RunFacts['kill'];
  const dropsBefore = env.proxy.dropped;
  try {
    if (failed) throw failed.reason;
    const ctx: LoadContext = { clients, apiKey: merchant.apiKey, seed: opts.seed, tapGapMs: opts.tapGapMs, tapsOn: opts.tapsOn, tag };
    await warmUp(ctx);
    drainProvider(env.sim);
    for (const s of servers) cpuBaseline.set(s, s.cpuSeconds());
    env.proxy.dropFirst = (orderId) => dropsFirstCharge(opts.seed, tag, orderId);
    let restart: Promise<void> | undefined;
    let currentRound = 0;
    for (let round = 0; round < rounds; round++) {
      currentRound = round;
      const roundStart = performance.now();
      if (round === killRound(rounds)) {
        restart = (async () => {
          await delay(KILL_AFTER_MS);
          const victim = servers[0];
          if (!victim) return;
          cpuUsed += victim.cpuSeconds() - (cpuBaseline.get(victim) ?? 0);
          await victim.kill();
          const killedAt = performance.now();
          log(`[${strategy}] SIGKILLed instance 0 ${KILL_AFTER_MS} ms into round ${round + 1}; restarting it`);
          const fresh = await startStrategyServer(strategy, env);
          everyServer.push(fresh);
          cpuBaseline.set(fresh, fresh.cpuSeconds());
          servers[0] = fresh;
          clients[0]?.close();
          clients[0] = new PaymentServiceClient(`127.0.0.1:${fresh.port}`, grpc.credentials.createInsecure());
          const restartMs = performance.now() - killedAt;
          kill = { round: round + 1, afterMs: KILL_AFTER_MS, restartMs: Math.round(restartMs), listeningAgainInRound: currentRound + 1 };
          log(`[${strategy}] instance 0 listens again after ${(restartMs / 1000).toFixed(1)} s`);
        })();
        // Awaited after the rounds; until then a failed restart must not count as unhandled.
        restart.catch(() => undefined);
      }
      const runs = await Promise.all(Array.from({ length: opts.paymentsPerRound }, (_, i) => runPayment(ctx, round, i, opts.paymentsPerRound)));
      const seconds = (performance.now() - roundStart) / 1000;
      const reused = await reuseKeys(ctx, round, opts.paymentsPerRound);
      account.addReuse(reused, reused.length);
      account.addIntents(drainProvider(env.sim));
      const f = account.addRound(round + 1, seconds, runs);
      const done = (round + 1) * opts.paymentsPerRound;
      log(
        `[${strategy}] round ${round + 1}/${rounds}: ${runs.length} payments in ${seconds.toFixed(2)} s (${f.throughput.toFixed(0)}/s), ` +
          `p50 ${f.p50Ms.toFixed(0)} ms, p99 ${f.p99Ms.toFixed(0)} ms, ${f.calls} calls (${f.timeouts} timed out); ` +
          `duplicates so far ${account.duplicatesSoFar} (${pct((100 * account.duplicatesSoFar) / done)})`,
      );
    }
    await restart;
    // Calls the clients gave up on may still be charging: wait for them before counting and stopping.
    if (!(await settle(env.sim, env.pool, merchant.merchantId))) {
      log(`[${strategy}] warning: the provider or the charges table was still changing after ${SETTLE_DEADLINE_MS} ms`);
    }
    account.addIntents(drainProvider(env.sim));
    for (const s of servers) cpuUsed += s.cpuSeconds() - (cpuBaseline.get(s) ?? 0);
  } catch (err) {
    for (const s of servers) log(`--- output of a ${strategy} server ---\n${s.logTail()}`);
    throw err;
  } finally {
    env.proxy.dropFirst = undefined;
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
  }
  // Read after the servers stopped: nothing can still be writing.
  const charges = await readCharges(env.pool, merchant.merchantId);
  account.addIntents(drainProvider(env.sim));
  const serverWarnings: Record<string, number> = {};
  for (const s of everyServer) for (const [msg, n] of s.warnings()) serverWarnings[msg] = (serverWarnings[msg] ?? 0) + n;
  return account.result(strategy, charges, (performance.now() - wallStart) / 1000, {
    serverCpuSeconds: cpuUsed,
    kill,
    droppedOrders: env.proxy.droppedOrders,
    chargeThenDrops: env.proxy.dropped - dropsBefore,
    serverWarnings,
  });
}
