/**
 * The TLS material every listener serves with (PEM contents, read once at start), and the one
 * place that decides how an HTTPS listener uses it: TLS 1.2 at least, and with a client CA, a
 * certificate signed by it required of every client (mutual TLS). gRPC takes the same material
 * through grpc-js' own credentials.
 */
import type { SecureContextOptions, TlsOptions } from 'node:tls';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** CA bundle that client certificates must chain to; none asked when absent. */
  ca?: Buffer;
}

export function httpsServerOptions(tls: TlsMaterial): TlsOptions & SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
  };
}
