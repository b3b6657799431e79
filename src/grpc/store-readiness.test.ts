import { mock } from 'node:test';
import { expect } from 'chai';
import type { ServingStatus } from 'grpc-health-check';
import { createLogger } from '../logger.js';
import { READINESS_PROBE_INTERVAL_MS, RECOVERY_PROBE_INTERVAL_MS, StoreReadiness } from './store-readiness.js';

/**
 * The probing state machine, with probes the test answers itself and time set explicitly
 * (node:test's mock timers). What a probe does against a real database is covered by
 * test/store-readiness.test.ts.
 */
class Probes {
  readonly pending: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  started = 0;
  readonly probe = (): Promise<void> => {
    this.started++;
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  };
  answer(ok: boolean): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no probe is waiting for an answer');
    if (ok) next.resolve();
    else next.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', errno: -111, fatal: true }));
  }
}

/** Lets promise callbacks run (the readiness reacts to a probe's answer in a microtask). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('StoreReadiness', () => {
  let probes: Probes;
  let published: ServingStatus[];
  let readiness: StoreReadiness;

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    probes = new Probes();
    published = [];
    readiness = new StoreReadiness({ probe: probes.probe, setStatus: (s) => published.push(s), log: createLogger('silent') });
  });
  afterEach(async () => {
    await Promise.all([readiness.stop(), ...probes.pending.map((p) => p.resolve())]);
    mock.timers.reset();
  });

  it("publishes the first probe's result before start() resolves", async () => {
    const started = readiness.start();
    expect(published).to.deep.equal([]);
    probes.answer(false);
    await started;
    expect(published).to.deep.equal(['NOT_SERVING']);
  });

  it('probes every interval while SERVING and every recovery interval while NOT_SERVING, publishing only changes', async () => {
    const started = readiness.start();
    probes.answer(true);
    await started;
    mock.timers.tick(READINESS_PROBE_INTERVAL_MS - 1);
    expect(probes.started).to.equal(1);
    mock.timers.tick(1);
    expect(probes.started).to.equal(2);
    probes.answer(true);
    await settle();
    mock.timers.tick(READINESS_PROBE_INTERVAL_MS);
    probes.answer(false);
    await settle();
    expect(published).to.deep.equal(['SERVING', 'NOT_SERVING']);
    mock.timers.tick(RECOVERY_PROBE_INTERVAL_MS);
    expect(probes.started).to.equal(4);
    probes.answer(true);
    await settle();
    expect(published).to.deep.equal(['SERVING', 'NOT_SERVING', 'SERVING']);
  });

  it('probes at once on a suspicion, and again after a probe that was already running when it was raised', async () => {
    const started = readiness.start();
    probes.answer(true);
    await started;
    readiness.suspect();
    expect(probes.started).to.equal(2);
    // The store fails while that probe's answer is on its way: the call that saw it suspects again.
    readiness.suspect();
    readiness.suspect();
    expect(probes.started, 'at most one probe at a time').to.equal(2);
    probes.answer(true);
    await settle();
    expect(probes.started, 'one more probe for the suspicions raised meanwhile').to.equal(3);
    probes.answer(false);
    await settle();
    expect(published).to.deep.equal(['SERVING', 'NOT_SERVING']);
  });

  it('ignores suspicions while NOT_SERVING: calls failing fast do not turn into a probe each', async () => {
    const started = readiness.start();
    probes.answer(false);
    await started;
    for (let i = 0; i < 100; i++) readiness.suspect();
    expect(probes.started).to.equal(1);
  });

  it('stop() waits for the probe in progress, never publishes its result, and leaves no timer behind', async () => {
    const started = readiness.start();
    probes.answer(true);
    await started;
    mock.timers.tick(READINESS_PROBE_INTERVAL_MS);
    expect(probes.started).to.equal(2);
    let stopped = false;
    const stopping = readiness.stop().then(() => {
      stopped = true;
    });
    await settle();
    expect(stopped, 'stop() returned with a probe still running').to.equal(false);
    probes.answer(false);
    await stopping;
    readiness.suspect();
    mock.timers.runAll();
    await settle();
    expect(probes.started).to.equal(2);
    expect(published).to.deep.equal(['SERVING']);
  });
});
