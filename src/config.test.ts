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
});
