import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ConfigError, loadConfig } from './config.js';

describe('configuration of TLS and the page token key', () => {
  it('refuses PAYMENTS_TLS_CLIENT_CA without a server certificate instead of serving plaintext', () => {
    expect(() => loadConfig({ PAYMENTS_TLS_CLIENT_CA: '/etc/ca.pem' })).to.throw(
      ConfigError,
      /PAYMENTS_TLS_CLIENT_CA .*needs PAYMENTS_TLS_CERT and PAYMENTS_TLS_KEY/,
    );
  });

  it('reads PAYMENTS_PAGE_TOKEN_KEY as 64 hex digits, base64 or base64url, and leaves it unset by default', () => {
    const key = randomBytes(32);
    expect(loadConfig({}).pageTokenKey).to.equal(undefined);
    for (const encoded of [key.toString('hex'), key.toString('hex').toUpperCase(), key.toString('base64'), key.toString('base64url')]) {
      expect(loadConfig({ PAYMENTS_PAGE_TOKEN_KEY: encoded }).pageTokenKey?.equals(key), encoded).to.equal(true);
    }
  });

  it('refuses a PAYMENTS_PAGE_TOKEN_KEY that is not 32 bytes, without quoting it', () => {
    for (const bad of ['secret', randomBytes(16).toString('hex'), randomBytes(33).toString('base64'), `${randomBytes(32).toString('hex')}0`]) {
      let error: unknown;
      try {
        loadConfig({ PAYMENTS_PAGE_TOKEN_KEY: bad });
      } catch (err) {
        error = err;
      }
      expect(error, bad).to.be.instanceOf(ConfigError);
      expect((error as Error).message)
        .to.include('PAYMENTS_PAGE_TOKEN_KEY')
        .and.not.include(bad);
    }
  });
});
