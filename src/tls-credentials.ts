import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { type Config, ConfigError } from './config.js';

type TlsConfig = NonNullable<Config['tls']>;

/**
 * Server credentials for PAYMENTS_TLS_CERT / PAYMENTS_TLS_KEY (TLS) and PAYMENTS_TLS_CLIENT_CA
 * (mutual TLS: a client must present a certificate issued by that CA, or the handshake fails).
 *
 * Every file is read and parsed here, at start, so a missing, unreadable or mismatched file
 * stops the start with a ConfigError naming its variable, instead of failing later at bind time
 * or on the first handshake. Messages name the variable, the path and the kind of problem only:
 * never file contents (the key file holds the private key), never a parser's own message.
 */
export function loadTlsCredentials(tls: TlsConfig): grpc.ServerCredentials {
  const certPem = readPem('PAYMENTS_TLS_CERT', tls.cert);
  const keyPem = readPem('PAYMENTS_TLS_KEY', tls.key);
  const cert = parse('PAYMENTS_TLS_CERT', tls.cert, 'a PEM certificate', () => new X509Certificate(certPem));
  const key = parse('PAYMENTS_TLS_KEY', tls.key, 'a PEM private key', (): KeyObject => createPrivateKey(keyPem));
  if (!cert.checkPrivateKey(key)) {
    throw new ConfigError(`PAYMENTS_TLS_KEY (${tls.key}) is not the private key of the certificate in PAYMENTS_TLS_CERT (${tls.cert})`);
  }
  let clientCa: Buffer | null = null;
  if (tls.clientCa !== undefined) {
    const caPem = readPem('PAYMENTS_TLS_CLIENT_CA', tls.clientCa);
    const ca = parse('PAYMENTS_TLS_CLIENT_CA', tls.clientCa, 'a PEM CA certificate', () => new X509Certificate(caPem));
    if (!ca.ca) throw new ConfigError(`PAYMENTS_TLS_CLIENT_CA (${tls.clientCa}) is not a CA certificate (basicConstraints CA:TRUE)`);
    clientCa = caPem;
  }
  // checkClientCertificate: with a client CA, a client without a valid certificate is refused.
  return grpc.ServerCredentials.createSsl(clientCa, [{ cert_chain: certPem, private_key: keyPem }], clientCa !== null);
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : 'unknown error';
    throw new ConfigError(`${variable}: cannot read ${file} (${code})`);
  }
}

function parse<T>(variable: string, file: string, expected: string, parser: () => T): T {
  try {
    return parser();
  } catch {
    // The parser's message is dropped on purpose: it may quote part of the input.
    throw new ConfigError(`${variable}: ${file} does not hold ${expected}`);
  }
}
