import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import { status as Code, Metadata, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { sharedPool } from '../../test/support/database.js';
import { createPool } from '../db/pool.js';
import { createLogger } from '../logger.js';
import { ApiError } from './api-error.js';
import { decodeStatusDetails } from './status-details.js';
import { STATUS_DETAILS_KEY, STORE_BUSY_REASON, STORE_UNAVAILABLE_REASON, toStatus } from './to-status.js';
import { unary } from './unary-handler.js';

async function failureOf(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (err) {
    return err;
  }
  throw new Error('expected the statement to fail');
}

async function refusedConnectionError(): Promise<unknown> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const down = createPool(`mysql://root@127.0.0.1:${port}/payments`, 1);
  try {
    return await failureOf(down.query('SELECT 1'));
  } finally {
    await down.end();
  }
}

function detailsOf(metadata: Metadata | undefined | null): ReturnType<typeof decodeStatusDetails> | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  return raw instanceof Buffer ? decodeStatusDetails(raw) : undefined;
}

describe('toStatus', function () {
  this.timeout(30_000);

  it('answers a database that cannot be reached UNAVAILABLE, with ErrorInfo STORE_UNAVAILABLE and RetryInfo, and no internals', async () => {
    const status = toStatus(await refusedConnectionError());
    expect(status.code).to.equal(Code.UNAVAILABLE);
    expect(status.known).to.equal(true);
    expect(status.details)
      .to.match(/temporarily unavailable; retry/)
      .and.not.match(/ECONNREFUSED|127\.0\.0\.1/);
    const details = detailsOf(status.metadata);
    expect(details?.errorInfo).to.deep.equal({ reason: STORE_UNAVAILABLE_REASON, domain: 'payments.v1', metadata: {} });
    expect(details?.retryInfo?.retryDelayMs).to.equal(1000);
  });

  it('answers a lock wait timeout UNAVAILABLE with ErrorInfo STORE_BUSY', async () => {
    const pool = await sharedPool();
    const table = `to_status_lock_${randomUUID().replace(/-/g, '')}`;
    await pool.query(`CREATE TABLE ${table} (id INT PRIMARY KEY)`);
    const holder = await pool.getConnection();
    const waiter = await pool.getConnection();
    try {
      await pool.query(`INSERT INTO ${table} (id) VALUES (1)`);
      await holder.beginTransaction();
      await holder.query(`SELECT * FROM ${table} WHERE id = 1 FOR UPDATE`);
      await waiter.query('SET SESSION innodb_lock_wait_timeout = 1');
      const status = toStatus(await failureOf(waiter.query(`DELETE FROM ${table} WHERE id = 1`)));
      expect(status.code).to.equal(Code.UNAVAILABLE);
      expect(detailsOf(status.metadata)?.errorInfo?.reason).to.equal(STORE_BUSY_REASON);
      expect(detailsOf(status.metadata)?.retryInfo?.retryDelayMs).to.be.greaterThan(0);
    } finally {
      await holder.rollback();
      holder.release();
      waiter.destroy();
      await pool.query(`DROP TABLE ${table}`);
    }
  });

  it('answers any other database error INTERNAL with a generic message', async () => {
    const pool = await sharedPool();
    const status = toStatus(await failureOf(pool.query('SELECT * FROM no_such_table_to_status')));
    expect(status).to.include({ code: Code.INTERNAL, details: 'internal error', known: false });
    expect(detailsOf(status.metadata)).to.equal(undefined);
  });

  it('passes an ApiError through unchanged', () => {
    const status = toStatus(ApiError.notFound('no charge ch_1 for this merchant'));
    expect(status).to.include({ code: Code.NOT_FOUND, details: 'no charge ch_1 for this merchant', known: true });
  });
});

describe('unary (the handler adapter)', () => {
  /** Runs one call through `unary` and returns the error it answered with and the log lines written. */
  async function answerOf(err: unknown): Promise<{ error: Partial<ServiceError> | null; logs: string[] }> {
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    // The service's logger: its error serializer is the one redaction point.
    const handler = unary(createLogger('info', sink), 'GetCharge', () => Promise.reject(err));
    // The adapter reads only the request and its metadata from the call.
    const call = { request: {}, metadata: new Metadata() } as unknown as ServerUnaryCall<object, object>;
    const error = await new Promise<Partial<ServiceError> | null>((resolve) => handler(call, (e) => resolve(e)));
    return { error, logs };
  }

  it('answers a failed handler through toStatus and logs an unknown database error by its codes only', async () => {
    const pool = await sharedPool();
    const marker = `cus_secret_${randomUUID()}`;
    const { error, logs } = await answerOf(await failureOf(pool.query('SELECT * FROM no_such_table_unary WHERE customer_id = ?', [marker])));
    expect(error?.code).to.equal(Code.INTERNAL);
    expect(logs).to.have.length(1);
    expect(logs[0]).to.include('"errno":1146').and.include('unhandled error in handler');
    expect(logs[0]).to.not.include(marker);
    expect(logs[0]).to.not.match(/SELECT|no_such_table_unary/);
  });

  it('answers an unreachable database UNAVAILABLE without logging every call', async () => {
    const { error, logs } = await answerOf(await refusedConnectionError());
    expect(error?.code).to.equal(Code.UNAVAILABLE);
    expect(detailsOf(error?.metadata)?.errorInfo?.reason).to.equal(STORE_UNAVAILABLE_REASON);
    expect(logs).to.deep.equal([]);
  });
});
