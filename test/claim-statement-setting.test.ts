import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { type ClaimStatement, ConfigError, claimStatementSetting, loadConfig } from '../src/config.js';
import { createPool, type Pool } from '../src/db/pool.js';
import { type CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';
import { callUnary } from './support/grpc-client.js';
import { startTestServer } from './support/test-server.js';

const create = PaymentServiceClient.prototype.createCharge;
const CHARGE: CreateChargeRequest = {
  amount: '1200',
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  customerId: 'cus_claim',
  description: 'claim form',
  metadata: {},
  captureMethod: 0,
};

/**
 * A real pool whose statements are also written down: every statement the store sends through
 * `query()` passes the callback pool's query(), which this wraps on this one instance.
 */
function recordingPool(): { pool: Pool; statements: string[] } {
  const pool = createPool(sharedDatabaseUrl());
  const statements: string[] = [];
  const inner = pool.pool as unknown as { query: (...args: unknown[]) => unknown };
  const original = inner.query.bind(inner);
  inner.query = (...args: unknown[]) => {
    const sql = args[0];
    statements.push(typeof sql === 'string' ? sql : String((sql as { sql?: unknown }).sql));
    return original(...args);
  };
  return { pool, statements };
}

const claims = (statements: string[]): string[] => statements.filter((s) => /INSERT INTO idempotency_keys/.test(s));

/** Charges once and retries once with the same key (no replay memory: the retry goes to the store). */
async function chargeAndRetry(claimStatement: ClaimStatement | undefined): Promise<string[]> {
  await sharedPool(); // migrates the shared database
  const { pool, statements } = recordingPool();
  const t = await startTestServer({ pool, replayCacheEntries: 0, ...(claimStatement ? { claimStatement } : {}) });
  try {
    const key = `claim-form-${randomUUID()}`;
    const first = await callUnary(t.client, create, CHARGE, t.md(key));
    const retry = await callUnary(t.client, create, CHARGE, t.md(key));
    expect(first.error, first.error?.details).to.equal(undefined);
    expect(retry.error, retry.error?.details).to.equal(undefined);
    expect(retry.response?.id).to.equal(first.response?.id);
    expect(t.sim.stats().paymentIntentsCreated).to.equal(1);
    return claims(statements);
  } finally {
    await t.close();
    await pool.end();
  }
}

describe('claim statement setting (IDEMPOTENCY_CLAIM_STATEMENT)', () => {
  it('defaults to auto and accepts only auto, returning and read-back', () => {
    expect(loadConfig({}).claimStatement).to.equal('auto');
    expect(loadConfig({ IDEMPOTENCY_CLAIM_STATEMENT: 'read-back' }).claimStatement).to.equal('read-back');
    expect(loadConfig({ IDEMPOTENCY_CLAIM_STATEMENT: 'returning' }).claimStatement).to.equal('returning');
    expect(() => loadConfig({ IDEMPOTENCY_CLAIM_STATEMENT: 'readback' })).to.throw(ConfigError, /auto, returning, read-back/);
  });

  it('makes a server on MariaDB claim with INSERT then SELECT by key, never with INSERT ... RETURNING, when set to read-back', async () => {
    const sent = await chargeAndRetry('read-back');
    expect(sent.length).to.be.at.least(1);
    for (const sql of sent) {
      expect(sql).not.to.match(/RETURNING/);
      expect(sql).to.match(/SELECT [\s\S]+ FROM idempotency_keys WHERE merchant_id = \? AND idempotency_key = \?/);
    }
  });

  it('makes a server claim with INSERT ... RETURNING when set to returning', async () => {
    const sent = await chargeAndRetry('returning');
    expect(sent.length).to.be.at.least(1);
    for (const sql of sent) expect(sql).to.match(/RETURNING/);
  });

  it('is followed by the test servers, so a test run with IDEMPOTENCY_CLAIM_STATEMENT=read-back exercises the read-back claim', async () => {
    const saved = process.env['IDEMPOTENCY_CLAIM_STATEMENT'];
    try {
      process.env['IDEMPOTENCY_CLAIM_STATEMENT'] = 'read-back';
      expect(claimStatementSetting(process.env)).to.equal('read-back');
      const sent = await chargeAndRetry(undefined);
      expect(sent.length).to.be.at.least(1);
      for (const sql of sent) expect(sql).not.to.match(/RETURNING/);
    } finally {
      if (saved === undefined) delete process.env['IDEMPOTENCY_CLAIM_STATEMENT'];
      else process.env['IDEMPOTENCY_CLAIM_STATEMENT'] = saved;
    }
  });
});
