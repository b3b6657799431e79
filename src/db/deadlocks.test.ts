import { expect } from 'chai';
import { MAX_DEADLOCK_ATTEMPTS, retryingDeadlocks } from './deadlocks.js';

const deadlock = (): Error => Object.assign(new Error('Deadlock found when trying to get lock'), { errno: 1213 });

describe('retryingDeadlocks', () => {
  it('runs a write again after a deadlock and returns its result', async () => {
    let calls = 0;
    const result = await retryingDeadlocks(async () => {
      calls++;
      if (calls < 3) throw deadlock();
      return 'stored';
    });
    expect([result, calls]).to.deep.equal(['stored', 3]);
  });

  it(`gives up after ${MAX_DEADLOCK_ATTEMPTS} deadlocks in a row with the last error`, async () => {
    let calls = 0;
    const err = await retryingDeadlocks(async () => {
      calls++;
      throw deadlock();
    }).catch((e: unknown) => e);
    expect((err as { errno?: number }).errno).to.equal(1213);
    expect(calls).to.equal(MAX_DEADLOCK_ATTEMPTS);
  });

  it('never runs a write again after any other error', async () => {
    let calls = 0;
    const err = await retryingDeadlocks(async () => {
      calls++;
      throw Object.assign(new Error('Lock wait timeout exceeded'), { errno: 1205 });
    }).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('Lock wait timeout exceeded');
    expect(calls).to.equal(1);
  });
});
