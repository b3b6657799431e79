import { expect } from 'chai';
import { ConfigError, loadConfig } from './config.js';

describe('configuration', () => {
  it('has safe defaults with an empty environment (DESIGN §7)', () => {
    const c = loadConfig({});
    expect(c.listen).to.equal('127.0.0.1:50051');
    expect(c.metricsListen).to.equal('127.0.0.1:9464');
    expect(c.mysqlUrl).to.equal(undefined);
    expect(c.providerUrl).to.equal(undefined);
    expect(c.keyTtlSeconds).to.equal(86_400);
    expect(c.leaseSeconds).to.equal(30);
    expect(c.tls).to.equal(undefined);
    expect(c.replayCacheEntries).to.equal(10_000);
  });

  it('accepts 0 to 1,000,000 replay cache entries (0 is off) and refuses anything else', () => {
    expect(loadConfig({ IDEMPOTENCY_REPLAY_CACHE_ENTRIES: '0' }).replayCacheEntries).to.equal(0);
    expect(() => loadConfig({ IDEMPOTENCY_REPLAY_CACHE_ENTRIES: '-1' })).to.throw(ConfigError, 'IDEMPOTENCY_REPLAY_CACHE_ENTRIES');
    expect(() => loadConfig({ IDEMPOTENCY_REPLAY_CACHE_ENTRIES: '1.5' })).to.throw(ConfigError, 'IDEMPOTENCY_REPLAY_CACHE_ENTRIES');
    expect(loadConfig({ IDEMPOTENCY_REPLAY_CACHE_ENTRIES: '1000000' }).replayCacheEntries).to.equal(1_000_000);
    expect(() => loadConfig({ IDEMPOTENCY_REPLAY_CACHE_ENTRIES: '1000001' })).to.throw(ConfigError, /from 0 to 1000000/);
  });

  it('bounds the provider call by half the lease, so an attempt ends before its lease does', () => {
    expect(loadConfig({}).providerTimeoutMs).to.equal(10_000);
    expect(loadConfig({ IDEMPOTENCY_LEASE_SECONDS: '4' }).providerTimeoutMs).to.equal(2_000);
    expect(loadConfig({ IDEMPOTENCY_LEASE_SECONDS: '1' }).providerTimeoutMs).to.equal(500);
  });

  for (const [name, value] of [
    ['IDEMPOTENCY_KEY_TTL_SECONDS', '0'],
    ['IDEMPOTENCY_LEASE_SECONDS', '-5'],
    ['IDEMPOTENCY_WAIT_MS', 'soon'],
  ] as const) {
    it(`refuses ${name}=${value} with a message naming the variable`, () => {
      expect(() => loadConfig({ [name]: value })).to.throw(ConfigError, name);
    });
  }

  it('requires TLS certificate and key together, and a provider key with a provider URL (without echoing it)', () => {
    expect(() => loadConfig({ PAYMENTS_TLS_CERT: 'cert.pem' })).to.throw(ConfigError, /together/);
    expect(() => loadConfig({ PAYMENTS_PROVIDER_URL: 'https://provider.example' })).to.throw(ConfigError, /PAYMENTS_PROVIDER_SECRET_KEY/);
    const c = loadConfig({ PAYMENTS_PROVIDER_URL: 'https://provider.example', PAYMENTS_PROVIDER_SECRET_KEY: 'sk_test_x' });
    expect(c.providerSecretKey).to.equal('sk_test_x');
  });

  it('refuses a key TTL shorter than 10 leases or 10 minutes, since a key that expires while its client retries lets the retry charge again', () => {
    expect(loadConfig({ IDEMPOTENCY_KEY_TTL_SECONDS: '600' }).keyTtlSeconds).to.equal(600);
    expect(() => loadConfig({ IDEMPOTENCY_KEY_TTL_SECONDS: '599' })).to.throw(ConfigError, /at least 600/);
    expect(() => loadConfig({ IDEMPOTENCY_KEY_TTL_SECONDS: '3000', IDEMPOTENCY_LEASE_SECONDS: '301' })).to.throw(ConfigError, /at least 3010 \(10 leases/);
    expect(loadConfig({ IDEMPOTENCY_KEY_TTL_SECONDS: '3010', IDEMPOTENCY_LEASE_SECONDS: '301' }).keyTtlSeconds).to.equal(3010);
  });

  it("keeps the provider idempotency window at 20 h by default and between 10 leases and the provider's 24 h", () => {
    expect(loadConfig({}).providerWindowSeconds).to.equal(72_000);
    expect(loadConfig({ PAYMENTS_PROVIDER_WINDOW_SECONDS: '86400' }).providerWindowSeconds).to.equal(86_400);
    expect(() => loadConfig({ PAYMENTS_PROVIDER_WINDOW_SECONDS: '86401' })).to.throw(ConfigError, 'PAYMENTS_PROVIDER_WINDOW_SECONDS');
    expect(() => loadConfig({ PAYMENTS_PROVIDER_WINDOW_SECONDS: '299' })).to.throw(ConfigError, /from 300/);
  });
});
