export { ANONYMOUS, ANY, ADMIN, OPEN, READ, ROLES, authorize, isRole, type Access, type Principal, type Role } from './roles.js';
export { apiKeyId, generateApiKey, hashApiKey, keyMatches, type ApiKeyRecord, type ApiKeyStore, type NewApiKey } from './api-key.js';
export { DEFAULT_JWT_ALGORITHMS, JWT_ALGORITHMS, JwtVerifier, type JwtVerifierOptions } from './jwt-verifier.js';
export { Authenticator, type AuthenticatorOptions } from './authenticator.js';
export { RateLimits, parseRateSpec, type RateLimitsOptions, type RateSpec } from './rate-limits.js';
export { Gatekeeper, type Credentials, type GatekeeperOptions } from './gatekeeper.js';
export { httpsServerOptions, type TlsMaterial } from './tls-material.js';
