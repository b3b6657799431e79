import { type ChannelCredentials, credentials } from '@grpc/grpc-js';

/**
 * TLS settings. `true` verifies the server against the system's trusted roots; an object adds a
 * private CA (`rootCerts`) and/or a client certificate for mutual TLS (`certChain` + `privateKey`,
 * as the server asks for when PAYMENTS_TLS_CLIENT_CA is set). All PEM.
 */
export type TlsOptions =
  | boolean
  | {
      rootCerts?: Buffer;
      certChain?: Buffer;
      privateKey?: Buffer;
    };

/** Channel credentials for the options: plaintext only when TLS is off (`false`, the default). */
export function channelCredentials(tls: TlsOptions | ChannelCredentials | undefined): ChannelCredentials {
  if (tls === undefined || tls === false) return credentials.createInsecure();
  if (tls === true) return credentials.createSsl();
  if (!isPlainTls(tls)) return tls;
  if ((tls.certChain === undefined) !== (tls.privateKey === undefined)) {
    throw new TypeError('tls.certChain and tls.privateKey go together (mutual TLS needs both)');
  }
  return credentials.createSsl(tls.rootCerts ?? null, tls.privateKey ?? null, tls.certChain ?? null);
}

function isPlainTls(tls: Exclude<TlsOptions, boolean> | ChannelCredentials): tls is Exclude<TlsOptions, boolean> {
  // ChannelCredentials (of whichever copy of grpc-js the caller has) all have compose().
  return typeof (tls as { compose?: unknown }).compose !== 'function';
}
