import { execFile } from 'node:child_process';
import path from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import { PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { API_KEY_REFRESH_INTERVAL_MS } from '../src/merchants/api-key-index.js';
import { hashApiKey } from '../src/merchants/merchant-store.js';
import { sharedDatabaseUrl } from './support/database.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const REPO_ROOT = path.resolve(__dirname, '..');
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const CLI = path.join(REPO_ROOT, 'scripts', 'merchants.ts');
/** tsx start-up plus a migration check and a statement or two; far below this even on a cold CI box. */
const CLI_TIMEOUT_MS = 30_000;
/**
 * How long a server keeps accepting a key after it was revoked: every instance re-reads the keys
 * changed since its last refresh every API_KEY_REFRESH_INTERVAL_MS (src/merchants/api-key-index.ts);
 * the margin covers one refresh's own duration on a busy machine.
 */
const REFRESH_MARGIN_MS = 2_000;
const REVOCATION_BOUND_MS = API_KEY_REFRESH_INTERVAL_MS + REFRESH_MARGIN_MS;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      TSX,
      [CLI, ...args],
      { cwd: REPO_ROOT, timeout: CLI_TIMEOUT_MS, env: { ...process.env, MYSQL_URL: sharedDatabaseUrl() } },
      (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr });
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
        else reject(new Error(`merchants CLI did not finish: ${error.message}\n${stderr}`, { cause: error }));
      },
    );
  });
}

async function cliJson(args: readonly string[]): Promise<Record<string, unknown>> {
  const result = await runCli(args);
  expect(result.code, result.stderr).to.equal(0);
  const lines = result.stdout.split('\n').filter((line) => line !== '');
  expect(lines).to.have.length(1);
  return JSON.parse(lines[0] ?? '') as Record<string, unknown>;
}

describe('API key lifecycle through the merchants command', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  /** GetCharge of an unknown charge: NOT_FOUND means the key was accepted, UNAUTHENTICATED that it was refused. */
  async function answerTo(apiKey: string, server: TestServer = t): Promise<Code | undefined> {
    const result = await callUnary(
      server.client,
      PaymentServiceClient.prototype.getCharge,
      { chargeId: 'ch_none' },
      metadata({ authorization: `Bearer ${apiKey}` }),
    );
    return result.error?.code;
  }

  it('creates an additional key that works next to the first one', async () => {
    const created = await cliJson(['keys', 'create', '--merchant', t.merchantId]);

    expect(Object.keys(created)).to.deep.equal(['merchant_id', 'api_key', 'prefix']);
    expect(created['merchant_id']).to.equal(t.merchantId);
    const apiKey = String(created['api_key']);
    expect(apiKey).to.match(/^sk_live_[A-Za-z0-9_-]{32}$/);
    expect(created['prefix']).to.equal(apiKey.slice(0, 16));
    expect(await answerTo(apiKey)).to.equal(Code.NOT_FOUND);
    expect(await answerTo(t.apiKey)).to.equal(Code.NOT_FOUND);
  });

  it("lists a merchant's keys by prefix and dates, and never prints a key or its hash", async () => {
    const merchant = await t.newMerchant();
    const second = await cliJson(['keys', 'create', '--merchant', merchant.merchantId]);
    const result = await runCli(['keys', 'list', '--merchant', merchant.merchantId]);

    expect(result.code, result.stderr).to.equal(0);
    const listed = JSON.parse(result.stdout) as { merchant_id: string; keys: Array<Record<string, unknown>> };
    expect(listed.merchant_id).to.equal(merchant.merchantId);
    expect(listed.keys.map((key) => Object.keys(key))).to.deep.equal([
      ['prefix', 'created_at', 'revoked_at'],
      ['prefix', 'created_at', 'revoked_at'],
    ]);
    expect(listed.keys.map((key) => key['prefix'])).to.have.members([merchant.apiKey.slice(0, 16), second['prefix']]);
    for (const key of listed.keys) {
      expect(Date.parse(String(key['created_at']))).to.be.closeTo(Date.now(), 60_000);
      expect(key['revoked_at']).to.equal(null);
    }
    for (const apiKey of [merchant.apiKey, String(second['api_key'])]) {
      const hash = hashApiKey(apiKey);
      for (const secret of [apiKey, apiKey.slice(16), hash.toString('hex'), hash.toString('base64'), hash.toString('base64url')]) {
        expect(result.stdout + result.stderr).to.not.include(secret);
      }
    }
  });

  it(`revokes a key: every server, whether it used the key or not, refuses it within ${REVOCATION_BOUND_MS / 1000} s, and the merchant's other key keeps working`, async () => {
    const key = String((await cliJson(['keys', 'create', '--merchant', t.merchantId]))['api_key']);
    const other = await startTestServer({ pool: t.pool, sim: t.sim });
    try {
      expect(await answerTo(key)).to.equal(Code.NOT_FOUND); // accepted by server t
      const revoked = await cliJson(['keys', 'revoke', '--merchant', t.merchantId, '--prefix', key.slice(0, 16)]);
      expect(revoked).to.include({ merchant_id: t.merchantId, prefix: key.slice(0, 16), already_revoked: false });
      const revokedAt = Date.now();
      // Wait for the refusal on both servers, bounded by the promised time (a condition, not a sleep).
      const refusedAfterMs = async (server: TestServer): Promise<number> => {
        while ((await answerTo(key, server)) !== Code.UNAUTHENTICATED) {
          if (Date.now() - revokedAt > REVOCATION_BOUND_MS) throw new Error(`revoked key still accepted after ${REVOCATION_BOUND_MS} ms`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return Date.now() - revokedAt;
      };
      const [onT, onOther] = await Promise.all([refusedAfterMs(t), refusedAfterMs(other)]);
      expect(Math.max(onT, onOther)).to.be.at.most(REVOCATION_BOUND_MS);
      expect(await answerTo(t.apiKey), "the merchant's other key").to.equal(Code.NOT_FOUND);
    } finally {
      await other.close();
    }

    const listed = (await cliJson(['keys', 'list', '--merchant', t.merchantId]))['keys'] as Array<Record<string, unknown>>;
    expect(listed.find((entry) => entry['prefix'] === key.slice(0, 16))?.['revoked_at']).to.be.a('string');
  });

  it('reports a second revoke of the same key as already revoked, with the first revocation time', async () => {
    const prefix = String((await cliJson(['keys', 'create', '--merchant', t.merchantId]))['prefix']);
    const first = await cliJson(['keys', 'revoke', '--merchant', t.merchantId, '--prefix', prefix]);
    const again = await cliJson(['keys', 'revoke', '--merchant', t.merchantId, '--prefix', prefix]);

    expect(again).to.deep.equal({ ...first, already_revoked: true });
  });

  it("exits 1 for an unknown merchant or prefix, and cannot revoke another merchant's key", async () => {
    const other = await t.newMerchant();
    const results = await Promise.all([
      runCli(['keys', 'list', '--merchant', 'mer_nobody']),
      runCli(['keys', 'create', '--merchant', 'mer_nobody']),
      runCli(['keys', 'revoke', '--merchant', t.merchantId, '--prefix', 'sk_live_nothing1']),
      runCli(['keys', 'revoke', '--merchant', t.merchantId, '--prefix', other.apiKey.slice(0, 16)]),
    ]);

    for (const result of results) {
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stdout).to.equal('');
    }
    expect(results[0]?.stderr).to.include('no merchant mer_nobody');
    expect(results[3]?.stderr).to.include(`has no key with prefix ${other.apiKey.slice(0, 16)}`);
    expect(await answerTo(other.apiKey)).to.equal(Code.NOT_FOUND);
  });

  it('exits 2 for incomplete keys commands, and refuses a whole key given as --prefix without echoing it', async () => {
    const results = await Promise.all([
      runCli(['keys']),
      runCli(['keys', 'rotate', '--merchant', t.merchantId]),
      runCli(['keys', 'list']),
      runCli(['keys', 'revoke', '--merchant', t.merchantId]),
      runCli(['keys', 'list', '--merchant', t.merchantId, '--name', 'x']),
      runCli(['keys', 'revoke', '--merchant', t.merchantId, '--prefix', t.apiKey]),
    ]);

    for (const result of results) {
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.include('Usage:');
    }
    expect(results[5]?.stderr).to.not.include(t.apiKey);
  });
});
