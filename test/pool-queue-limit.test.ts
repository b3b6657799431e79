import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { PoolConnection } from 'mysql2/promise';
import { createPool } from '../src/db/pool.js';
import { StoreFailure, storeFailureOf } from '../src/db/store-unavailable.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { STATUS_DETAILS_KEY, STORE_BUSY_REASON, toStatus } from '../src/grpc/to-status.js';
import { sharedDatabaseUrl } from './support/database.js';

describe('the connection pool queue', function () {
  this.timeout(30_000);

  it('refuses a statement at once when the queue is full, and it is answered UNAVAILABLE with RetryInfo', async () => {
    const pool = createPool(sharedDatabaseUrl(), 1);
    let held: PoolConnection | undefined;
    const queued: Array<Promise<unknown>> = [];
    try {
      held = await pool.getConnection();
      // One connection, held: every statement queues, up to the pool's bound; past it, the pool
      // refuses at once (before any I/O), so one macrotask turn settles every refusal.
      const refusals: unknown[] = [];
      for (let i = 0; i < 1000; i++) queued.push(pool.query('SELECT 1').catch((err: unknown) => refusals.push(err)));
      await new Promise((resolve) => setImmediate(resolve));
      expect(refusals.length, 'the pool queued 1000 statements without end').to.be.greaterThan(0);
      expect(1000 - refusals.length, 'statements queued').to.be.at.most(64);
      const refused = refusals[0];
      expect(storeFailureOf(refused)).to.equal(StoreFailure.Busy);
      expect(storeFailureOf(new Error('wrapped', { cause: refused }))).to.equal(StoreFailure.Busy);
      const status = toStatus(refused);
      expect(status.code).to.equal(Code.UNAVAILABLE);
      const details = decodeStatusDetails(status.metadata.get(STATUS_DETAILS_KEY)[0] as Buffer);
      expect(details.errorInfo?.reason).to.equal(STORE_BUSY_REASON);
      expect(details.retryInfo?.retryDelayMs).to.be.greaterThan(0);
    } finally {
      held?.release();
      await Promise.all(queued);
      await pool.end();
    }
  });
});
