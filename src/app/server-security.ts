/**
 * Builds what the server's listeners need to be safe from its configuration: the Gatekeeper
 * (API keys from the registry, JWTs from a configured key, rate limits, or --insecure), and the
 * TLS material read once at start. Kept apart from the composition root so that the rules of who
 * may connect read in one place.
 */
import { readFileSync } from 'node:fs';
import type { ServerConfig } from '../config/index.js';
import { mpError, type Logger } from '../core/index.js';
import type { RegistryStore } from '../repository/index.js';
import { Authenticator, Gatekeeper, JwtVerifier, RateLimits, parseRateSpec, type ApiKeyStore, type RateSpec, type TlsMaterial } from '../security/index.js';

export interface ServerSecurity {
  gatekeeper: Gatekeeper;
  limits: RateLimits;
  tls: TlsMaterial | undefined;
}

/** `registry` resolves to the server's one registry store once it is open (undefined with --registry off). */
export function serverSecurity(config: ServerConfig, registry: (() => Promise<RegistryStore>) | undefined): ServerSecurity {
  const keys: ApiKeyStore | undefined = registry && {
    createApiKey: async (record) => (await registry()).createApiKey(record),
    getApiKey: async (id) => (await registry()).getApiKey(id),
    listApiKeys: async () => (await registry()).listApiKeys(),
    revokeApiKey: async (id, at) => (await registry()).revokeApiKey(id, at),
  };
  const jwt = config.jwtKeyFile
    ? new JwtVerifier({ keyFile: config.jwtKeyFile, issuer: config.jwtIssuer, audience: config.jwtAudience, algorithms: config.jwtAlgorithms })
    : undefined;
  const limits = new RateLimits({
    ...(config.rateLimitPerKey ? { perPrincipal: spec(config.rateLimitPerKey) } : {}),
    perModel: Object.fromEntries(Object.entries(config.rateLimitPerModel).map(([model, text]) => [model, spec(text)])),
  });
  const gatekeeper = new Gatekeeper({
    insecure: config.insecure,
    authenticator: new Authenticator({ ...(keys ? { keys } : {}), ...(jwt ? { jwt } : {}) }),
    limits,
  });
  return { gatekeeper, limits, tls: readTls(config) };
}

/** Says loudly what --insecure means, and where it is dangerous. */
export function warnIfInsecure(config: ServerConfig, logger: Logger): void {
  if (!config.insecure) return;
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.host);
  logger.warn(
    { host: config.host },
    loopback
      ? 'serving WITHOUT authentication (--insecure), on this machine only: every local process may infer, upload models and change routing'
      : 'serving WITHOUT authentication (--insecure) on a network address: anyone who can reach it may infer, upload models, change routing and run jobs',
  );
}

function spec(text: string): RateSpec {
  const parsed = parseRateSpec(text);
  if (parsed === undefined) throw mpError('MP_ERR_CONFIG_INVALID', `invalid rate limit '${text}': expected RATE/UNIT[,burst=N]`);
  return parsed;
}

function readTls(config: ServerConfig): ServerSecurity['tls'] {
  if (!config.tlsCert) return undefined;
  const read = (file: string, key: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw mpError('MP_ERR_CONFIG_INVALID', `cannot read ${key} '${file}': ${(error as Error).message}`);
    }
  };
  return {
    cert: read(config.tlsCert, 'tlsCert'),
    key: read(config.tlsKey, 'tlsKey'),
    ...(config.tlsClientCa ? { ca: read(config.tlsClientCa, 'tlsClientCa') } : {}),
  };
}
