/**
 * The fault schedule, the same for every strategy: provider latency, a charge
 * the provider makes and then leaves unanswered on chosen first requests, and
 * the SIGKILL of one instance in the middle round.
 */
import type { ProviderSimulator } from '../../../src/simulator/simulator.js';
import { seededRandom } from '../../chaos/seeded-random.js';

/**
 * Provider latency, one of these per PaymentIntent request (about a third
 * each): a card network round trip is tens of ms, and it is what keeps a first
 * call in flight long enough for its duplicates to race it.
 */
export const PROVIDER_LATENCIES_MS = [20, 35, 50] as const;
/**
 * Share of logical payments whose first create request the provider charges
 * and then leaves unanswered (the connection drops): the server cannot tell a
 * charge from no charge. Chosen per payment from the seed, so every strategy
 * meets it on the same payments.
 */
export const CHARGE_THEN_DROP_SHARE = 0.1;
/**
 * One instance (the first) is SIGKILLed in each strategy's middle round, this
 * long after the round's payments started (a provider call takes 20-50 ms, so
 * first calls, retries and double taps are in flight), then started again.
 */
export const KILL_AFTER_MS = 200;

export function providerLatency(sim: ProviderSimulator): void {
  // The first latency fault that matches and passes its probability applies: 1/3, then 1/2 of the rest, then the rest.
  PROVIDER_LATENCIES_MS.forEach((ms, i) => {
    const left = PROVIDER_LATENCIES_MS.length - i;
    sim.faults.add({
      kind: 'latency',
      ms,
      times: 'unlimited',
      match: { pathPrefix: '/v1/payment_intents' },
      ...(left > 1 ? { probability: 1 / left } : {}),
    });
  });
}

/** FNV-1a of a string: the payment's part of the charge-then-drop draw. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Whether the provider drops the connection after charging this payment's first request; the same payments for every strategy. */
export function dropsFirstCharge(seed: number, tag: string, orderId: string): boolean {
  if (!orderId.startsWith(tag) || orderId.includes('-warmup-')) return false;
  return seededRandom(seed ^ fnv1a(orderId.slice(tag.length)))() < CHARGE_THEN_DROP_SHARE;
}

/** The round in which each strategy has one instance SIGKILLed: its middle one (the second of two). */
export function killRound(rounds: number): number {
  return Math.floor(rounds / 2);
}
