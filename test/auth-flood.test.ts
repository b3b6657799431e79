import { randomBytes, randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import { AUTHENTICATION_RATE_LIMITED_REASON } from '../src/grpc/auth-interceptor.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { STATUS_DETAILS_KEY } from '../src/grpc/to-status.js';
import { ApiKeyIndex, MISS_REFRESH_MIN_INTERVAL_MS } from '../src/merchants/api-key-index.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { type AbuseServer, startAbuseServer } from './support/abuse-server.js';
import { sharedPool } from './support/database.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { countStatements, type StatementCounter } from './support/statement-counter.js';

const GET = { chargeId: 'ch_doesnotexist0000000000' };

function randomKey(): string {
  return `sk_live_${randomBytes(24).toString('base64url')}`;
}

function reasonOf(err: { metadata: { get(key: string): unknown[] } } | undefined): string | undefined {
  const raw = err?.metadata.get(STATUS_DETAILS_KEY)[0];
  return raw instanceof Buffer ? decodeStatusDetails(raw).errorInfo?.reason : undefined;
}

function retryDelayOf(err: { metadata: { get(key: string): unknown[] } } | undefined): number | undefined {
  const raw = err?.metadata.get(STATUS_DETAILS_KEY)[0];
  return raw instanceof Buffer ? decodeStatusDetails(raw).retryInfo?.retryDelayMs : undefined;
}

describe('unauthenticated floods', function () {
  this.timeout(60_000);
  let t: AbuseServer;
  let counter: StatementCounter;

  before(async () => {
    t = await startAbuseServer();
    counter = await countStatements(t.pool);
  });
  after(async () => {
    counter.restore();
    await t.close();
  });

  it('answers 600 calls with random API keys with at most a handful of database statements in all, even with no limit per address', async () => {
    const open = await startAbuseServer({ authFailureLimits: false });
    try {
      counter.reset();
      const startedAt = performance.now();
      const waves = 6;
      const codes: Array<number | undefined> = [];
      for (let w = 0; w < waves; w++) {
        const results = await Promise.all(Array.from({ length: 100 }, () => callUnary(open.client, open.client.getCharge, GET, open.md(randomKey()))));
        codes.push(...results.map((r) => r.error?.code));
      }
      expect(new Set(codes)).to.deep.equal(new Set([Code.UNAUTHENTICATED]));
      // Before: one SELECT on api_keys per call (600). Now: only the index's shared refreshes,
      // which start at most every MISS_REFRESH_MIN_INTERVAL_MS (plus the one in flight and a periodic one).
      const bound = Math.ceil((performance.now() - startedAt) / MISS_REFRESH_MIN_INTERVAL_MS) + 2;
      expect(counter.count, counter.statements.join('\n')).to.be.at.most(Math.min(bound, 30));
    } finally {
      await open.close();
    }
  });

  it('answers malformed authorization metadata without any database statement', async () => {
    counter.reset();
    const malformed = ['Bearer', 'Bearer ', `Bearer ${'x'.repeat(201)}`, 'Basic abc', 'Bearer a b'];
    for (const value of malformed) {
      const r = await callUnary(t.client, t.client.getCharge, GET, metadata({ authorization: value }));
      expect(r.error?.code, value).to.equal(Code.UNAUTHENTICATED);
    }
    expect(counter.count).to.equal(0);
  });

  it('accepts a key created after the server started on its first calls, 60 of them at once', async () => {
    const fresh = await t.newMerchant();
    const results = await Promise.all(Array.from({ length: 60 }, () => callUnary(t.client, t.client.getCharge, GET, t.md(fresh.apiKey))));
    expect(new Set(results.map((r) => r.error?.code))).to.deep.equal(new Set([Code.NOT_FOUND]));
  });

  it('refuses an address that keeps sending unknown keys with RESOURCE_EXHAUSTED and RetryInfo, while a valid key from it still works', async () => {
    // Waves of concurrent calls, as a flood sends them: the address has a burst of failures, then a few per second.
    let limited: Awaited<ReturnType<typeof callUnary>> | undefined;
    for (let wave = 0; wave < 10 && limited === undefined; wave++) {
      const results = await Promise.all(Array.from({ length: 30 }, () => callUnary(t.client, t.client.getCharge, GET, t.md(randomKey()))));
      expect(results.every((r) => r.error?.code === Code.UNAUTHENTICATED || r.error?.code === Code.RESOURCE_EXHAUSTED)).to.equal(true);
      limited = results.find((r) => r.error?.code === Code.RESOURCE_EXHAUSTED);
    }
    expect(limited, 'no RESOURCE_EXHAUSTED within 10 waves of unknown keys').to.not.equal(undefined);
    expect(reasonOf(limited?.error)).to.equal(AUTHENTICATION_RATE_LIMITED_REASON);
    expect(retryDelayOf(limited?.error)).to.be.greaterThan(0);
    const ok = await callUnary(t.client, t.client.getCharge, GET, t.md(t.apiKey));
    expect(ok.error?.code, 'a valid key is answered past authentication').to.equal(Code.NOT_FOUND);
  });
});

describe('ApiKeyIndex', function () {
  this.timeout(30_000);

  it('holds created keys, drops revoked ones on the next refresh', async () => {
    const pool = await sharedPool();
    const store = new MerchantStore(pool);
    const a = await store.create(`index-${randomUUID()}`);
    const index = new ApiKeyIndex(pool);
    await index.start();
    try {
      expect(index.cached(a.apiKey)).to.equal(a.merchantId);
      expect(index.cached(randomKey())).to.equal(undefined);
      const b = await store.create(`index-${randomUUID()}`);
      expect(index.cached(b.apiKey), 'not yet refreshed').to.equal(undefined);
      expect(await index.lookup(b.apiKey)).to.equal(b.merchantId);
      await pool.query('UPDATE api_keys SET revoked_at = NOW(6) WHERE merchant_id = ?', [a.merchantId]);
      expect(index.cached(a.apiKey), 'revocation not yet seen').to.equal(a.merchantId);
      await index.refresh();
      expect(index.cached(a.apiKey)).to.equal(undefined);
      expect(await index.lookup(a.apiKey)).to.equal(undefined);
    } finally {
      index.stop();
    }
  });

  it('shares one refresh among many concurrent unknown keys', async () => {
    const pool = await sharedPool();
    const index = new ApiKeyIndex(pool);
    await index.start();
    try {
      const before = index.statementCount;
      const answers = await Promise.all(Array.from({ length: 1000 }, () => index.lookup(randomKey())));
      expect(answers.every((a) => a === undefined)).to.equal(true);
      expect(index.statementCount - before).to.equal(1);
    } finally {
      index.stop();
    }
  });
});
