/**
 * Bearer JWTs from an identity provider, verified with jose the way RFC 8725 asks: the algorithms
 * are an allow-list fixed by configuration (never taken from the token's header, so `alg: none`
 * and RS256→HS256 confusion are refused), only asymmetric ones (the server holds no signing
 * secret), and `exp`, `iss` and `aud` are required, `nbf` checked when present, with a small
 * clock tolerance. The key comes from a file: a PEM public key or certificate, a JWK, or a JWKS
 * (whose `kid`s select the key). The token's `role` claim (or the highest of a `roles` array)
 * gives its role; an optional `models` array limits it to those models.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { mpError } from '../core/index.js';
import { isRole, ROLES, type Principal, type Role } from './roles.js';

/** Asymmetric JWS algorithms jose verifies; symmetric (HS*) and `none` are never accepted. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export const DEFAULT_JWT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];

export interface JwtVerifierOptions {
  /** PEM public key/certificate, JWK or JWKS file. */
  keyFile: string;
  issuer: string;
  audience: string;
  algorithms?: string[];
  clockToleranceSecs?: number;
}

export class JwtVerifier {
  readonly #key: KeyObject | JWTVerifyGetKey;
  readonly #options: { issuer: string; audience: string; algorithms: string[]; clockTolerance: number; requiredClaims: string[] };

  constructor(options: JwtVerifierOptions) {
    const algorithms = options.algorithms ?? DEFAULT_JWT_ALGORITHMS;
    for (const alg of algorithms) {
      if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
        throw mpError('MP_ERR_CONFIG_INVALID', `JWT algorithm '${alg}' is not accepted; allowed: ${JWT_ALGORITHMS.join(', ')} (symmetric algorithms and 'none' never are)`);
      }
    }
    this.#key = readVerificationKey(options.keyFile);
    this.#options = {
      issuer: options.issuer,
      audience: options.audience,
      algorithms,
      clockTolerance: options.clockToleranceSecs ?? 30,
      requiredClaims: ['exp', 'iss', 'aud'],
    };
  }

  /** The principal a token stands for, and until when (ms since epoch) that holds. */
  async verify(token: string): Promise<{ principal: Principal; expiresAtMs: number }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#key as KeyObject, this.#options));
    } catch (error) {
      throw mpError('MP_ERR_AUTH_INVALID', `bearer token refused: ${reason(error)}`);
    }
    const role = roleOf(payload);
    if (role === undefined) {
      throw mpError('MP_ERR_AUTH_FORBIDDEN', `bearer token of '${payload.sub ?? '?'}' carries no Modelport role: expected a 'role' claim (or 'roles' array) with one of ${ROLES.join(', ')}`);
    }
    const models = payload.models;
    if (models !== undefined && !(Array.isArray(models) && models.every((m) => typeof m === 'string'))) {
      throw mpError('MP_ERR_AUTH_INVALID', "bearer token refused: its 'models' claim must be an array of model names");
    }
    const principal: Principal = {
      id: `jwt:${payload.sub ?? 'unknown'}`,
      role,
      ...(role === 'infer' && models !== undefined ? { models: new Set(models as string[]) } : {}),
    };
    return { principal, expiresAtMs: (payload.exp ?? 0) * 1000 };
  }
}

function roleOf(payload: JWTPayload): Role | undefined {
  if (isRole(payload.role)) return payload.role;
  if (Array.isArray(payload.roles)) {
    // The strongest of the roles it lists, so a token for several audiences still works here.
    const listed = payload.roles.filter(isRole);
    return [...ROLES].reverse().find((r) => listed.includes(r));
  }
  return undefined;
}

function readVerificationKey(file: string): KeyObject | JWTVerifyGetKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw mpError('MP_ERR_CONFIG_INVALID', `cannot read the JWT key file '${file}': ${(error as Error).message}`);
  }
  try {
    if (text.trimStart().startsWith('-----BEGIN')) return createPublicKey(text);
    const json = JSON.parse(text) as { keys?: unknown; kty?: unknown; d?: unknown };
    if (Array.isArray(json.keys)) return createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]);
    if (typeof json.kty === 'string') {
      if (json.d !== undefined) throw new Error('it holds a private key; give the server the public key only');
      return createPublicKey({ key: json as import('node:crypto').JsonWebKey, format: 'jwk' });
    }
    throw new Error('expected a PEM public key or certificate, a JWK or a JWKS');
  } catch (error) {
    throw mpError('MP_ERR_CONFIG_INVALID', `JWT key file '${file}' is not usable: ${(error as Error).message}`);
  }
}

/** jose's reasons, in words a client can act on. */
function reason(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = (error as Error).message;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'it has expired';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'its signing algorithm is not accepted by this server';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'its signature does not verify';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no configured key matches its key id';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return message; // names the claim: 'unexpected "aud" claim value', '"nbf" claim timestamp check failed'
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return `it is not a well-formed JWT (${message})`;
    default:
      return message;
  }
}
