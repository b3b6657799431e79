import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';
import { type CertificateFiles, generateCertificates } from './support/test-certificates.js';

const REPO_ROOT = path.resolve(__dirname, '..');
/** Each call gets this long: a handshake on loopback takes milliseconds; a refused one fails at once. */
const CALL_DEADLINE_MS = 10_000;
/** A start that fails on its TLS files exits before any database or listener work: tsx start-up only. */
const FAILED_START_TIMEOUT_MS = 30_000;

interface ClientCase {
  name: string;
  credentials: () => grpc.ChannelCredentials;
}

describe('TLS and mutual TLS, end to end through npm start', function () {
  this.timeout(120_000);
  let certs: CertificateFiles;
  let apiKey = '';

  before(async () => {
    certs = generateCertificates();
    apiKey = (await new MerchantStore(await sharedPool()).create('tls test merchant')).apiKey;
  });
  after(() => {
    certs.remove();
  });

  const read = (file: string): Buffer => readFileSync(file);
  const plaintext: ClientCase = { name: 'a plaintext client', credentials: () => grpc.credentials.createInsecure() };
  const tlsOnly: ClientCase = { name: 'a TLS client without a certificate', credentials: () => grpc.credentials.createSsl(read(certs.caCert)) };
  const withClientCert: ClientCase = {
    name: 'a client with a certificate from the client CA',
    credentials: () => grpc.credentials.createSsl(read(certs.caCert), read(certs.clientKey), read(certs.clientCert)),
  };
  const otherCa: ClientCase = {
    name: 'a client with a certificate from another CA',
    credentials: () => grpc.credentials.createSsl(read(certs.caCert), read(certs.otherClientKey), read(certs.otherClientCert)),
  };

  /** GetCharge of an unknown id: NOT_FOUND proves the call got through TLS and authentication. */
  async function getCharge(port: number, client: ClientCase): Promise<grpc.status | undefined> {
    // The certificate names localhost too; naming it avoids an IP address as the TLS server name (RFC 6066).
    const stub = new PaymentServiceClient(`127.0.0.1:${port}`, client.credentials(), { 'grpc.ssl_target_name_override': 'localhost' });
    try {
      const result = await callUnary(stub, PaymentServiceClient.prototype.getCharge, { chargeId: 'ch_tls' }, metadata({ authorization: `Bearer ${apiKey}` }), {
        deadline: Date.now() + CALL_DEADLINE_MS,
      });
      return result.error?.code;
    } finally {
      stub.close();
    }
  }

  function serverEnv(extra: Record<string, string>): Record<string, string> {
    return { MYSQL_URL: sharedDatabaseUrl(), PAYMENTS_TLS_CERT: certs.serverCert, PAYMENTS_TLS_KEY: certs.serverKey, ...extra };
  }

  describe('with PAYMENTS_TLS_CERT and PAYMENTS_TLS_KEY', () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess(serverEnv({}));
    });
    after(async () => {
      await server?.stop();
    });

    it('logs that it listens with TLS', () => {
      expect(server.logs.find((line) => line['msg'] === 'payments gRPC server listening')).to.include({ tls: true });
    });

    it('serves a client that trusts the CA', async () => {
      expect(await getCharge(server.port, tlsOnly)).to.equal(grpc.status.NOT_FOUND);
    });

    it('serves a client that also presents a certificate (not required without a client CA)', async () => {
      expect(await getCharge(server.port, withClientCert)).to.equal(grpc.status.NOT_FOUND);
    });

    it('refuses a plaintext client', async () => {
      expect(await getCharge(server.port, plaintext)).to.equal(grpc.status.UNAVAILABLE);
    });
  });

  describe('with PAYMENTS_TLS_CLIENT_CA as well (mutual TLS)', () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess(serverEnv({ PAYMENTS_TLS_CLIENT_CA: certs.caCert }));
    });
    after(async () => {
      await server?.stop();
    });

    it('serves a client with a certificate from the client CA', async () => {
      expect(await getCharge(server.port, withClientCert)).to.equal(grpc.status.NOT_FOUND);
    });

    for (const refused of [() => tlsOnly, () => otherCa, () => plaintext]) {
      it(`refuses ${refused().name}`, async () => {
        expect(await getCharge(server.port, refused())).to.equal(grpc.status.UNAVAILABLE);
      });
    }
  });

  describe('refuses to start on certificate files it cannot use', () => {
    /** Runs main.ts to its exit; resolves with the exit code and everything it printed. */
    function failedStart(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
          cwd: REPO_ROOT,
          env: { ...process.env, PAYMENTS_LISTEN: '127.0.0.1:0', METRICS_LISTEN: '127.0.0.1:0', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the server did not exit within ${FAILED_START_TIMEOUT_MS} ms:\n${output}`));
        }, FAILED_START_TIMEOUT_MS);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, output });
        });
      });
    }

    /** The base64 body lines of a PEM file: none of them may ever be printed. */
    const pemBody = (file: string): string[] =>
      read(file)
        .toString()
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('-----'));

    const cases = [
      {
        name: 'a missing certificate',
        variable: 'PAYMENTS_TLS_CERT',
        env: () => ({ PAYMENTS_TLS_CERT: path.join(certs.dir, 'missing.crt') }),
        says: /cannot read .*missing\.crt \(ENOENT\)/,
      },
      {
        name: 'an unreadable key (a directory)',
        variable: 'PAYMENTS_TLS_KEY',
        env: () => ({ PAYMENTS_TLS_KEY: unreadable() }),
        says: /cannot read .* \(EISDIR\)/,
      },
      {
        name: 'a missing client CA',
        variable: 'PAYMENTS_TLS_CLIENT_CA',
        env: () => ({ PAYMENTS_TLS_CLIENT_CA: path.join(certs.dir, 'missing-ca.crt') }),
        says: /cannot read/,
      },
      {
        name: 'the private key given as the certificate',
        variable: 'PAYMENTS_TLS_CERT',
        env: () => ({ PAYMENTS_TLS_CERT: certs.serverKey }),
        says: /does not hold a PEM certificate/,
      },
      {
        name: 'a key that does not match the certificate',
        variable: 'PAYMENTS_TLS_KEY',
        env: () => ({ PAYMENTS_TLS_KEY: certs.clientKey }),
        says: /is not the private key of the certificate/,
      },
      {
        name: 'a client certificate given as the client CA',
        variable: 'PAYMENTS_TLS_CLIENT_CA',
        env: () => ({ PAYMENTS_TLS_CLIENT_CA: certs.clientCert }),
        says: /is not a CA certificate/,
      },
    ];
    const unreadable = (): string => {
      const dir = path.join(certs.dir, 'a-directory.key');
      mkdirSync(dir, { recursive: true });
      return dir;
    };

    for (const c of cases) {
      it(`exits 1 naming ${c.variable} for ${c.name}, and prints no key material`, async () => {
        const { code, output } = await failedStart(serverEnv(c.env()));

        expect(code, output).to.equal(1);
        const fatal = output.split('\n').find((line) => line.includes('"level":60'));
        expect(fatal, output).to.be.a('string');
        expect(fatal).to.include(c.variable).and.match(c.says);
        expect(output).to.not.include('payments gRPC server listening');
        for (const keyFile of [certs.serverKey, certs.clientKey]) {
          for (const line of pemBody(keyFile)) expect(output).to.not.include(line);
        }
      });
    }
  });
});
