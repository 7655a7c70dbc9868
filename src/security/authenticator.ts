/**
 * Turns the credential a request carries (`Authorization: Bearer …`, or `x-api-key` for clients
 * that cannot set Authorization) into a Principal: an API key looked up by its id in the key
 * store, or a JWT verified by JwtVerifier. Answers are cached so a client sending the same
 * credential on every request pays for the lookup once: a valid key for KEY_CACHE_MS (how soon a
 * revocation made on another replica takes effect), a token until it expires, a refused
 * credential for a second (so that a client hammering with a bad key costs no database queries).
 * A cached answer comes back synchronously, keeping the inference path free of extra awaits.
 */
import { mpError } from '../core/index.js';
import { apiKeyId, keyMatches, type ApiKeyRecord, type ApiKeyStore } from './api-key.js';
import type { JwtVerifier } from './jwt-verifier.js';
import type { Principal } from './roles.js';

const KEY_CACHE_MS = 5_000;
const TOKEN_CACHE_MS = 60_000;
const REFUSAL_CACHE_MS = 1_000;
const MAX_CACHE_ENTRIES = 10_000;

export interface AuthenticatorOptions {
  keys?: ApiKeyStore;
  jwt?: JwtVerifier;
  now?: () => number;
}

interface CacheEntry {
  until: number;
  principal?: Principal;
  error?: Error;
}

export class Authenticator {
  readonly #keys: ApiKeyStore | undefined;
  readonly #jwt: JwtVerifier | undefined;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  /** Lookups under way, so that a burst of requests with a new credential makes one. */
  readonly #pending = new Map<string, Promise<Principal>>();

  constructor(options: AuthenticatorOptions) {
    this.#keys = options.keys;
    this.#jwt = options.jwt;
    this.#now = options.now ?? Date.now;
  }

  /** What credentials the server accepts, for messages. */
  get accepts(): string {
    return [this.#keys ? 'an API key' : '', this.#jwt ? 'a JWT' : ''].filter(Boolean).join(' or ') || 'nothing';
  }

  /**
   * The principal behind `authorization` (an Authorization header value) or `apiKey` (an
   * x-api-key value). Throws MP_ERR_AUTH_REQUIRED / MP_ERR_AUTH_INVALID.
   */
  authenticate(authorization: string | undefined, apiKey?: string): Principal | Promise<Principal> {
    const credential = bearer(authorization) ?? apiKey;
    if (credential === undefined || credential === '') {
      throw mpError('MP_ERR_AUTH_REQUIRED', `this endpoint needs credentials: send 'Authorization: Bearer <token>' with ${this.accepts}`);
    }
    const cached = this.#cache.get(credential);
    if (cached !== undefined) {
      if (cached.until > this.#now()) {
        if (cached.error) throw cached.error;
        return cached.principal!;
      }
      this.#cache.delete(credential);
    }
    let pending = this.#pending.get(credential);
    if (pending === undefined) {
      pending = this.#resolve(credential).then(
        ({ principal, until }) => {
          this.#pending.delete(credential);
          this.#remember(credential, { principal, until: Math.min(until, this.#now() + TOKEN_CACHE_MS) });
          return principal;
        },
        (error: Error) => {
          this.#pending.delete(credential);
          this.#remember(credential, { error, until: this.#now() + REFUSAL_CACHE_MS });
          throw error;
        },
      );
      this.#pending.set(credential, pending);
    }
    return pending;
  }

  async #resolve(credential: string): Promise<{ principal: Principal; until: number }> {
    const id = apiKeyId(credential);
    if (id !== undefined) {
      if (!this.#keys) throw mpError('MP_ERR_AUTH_INVALID', 'API keys are not accepted by this server (it has no registry); send a JWT');
      const record = await this.#keys.getApiKey(id);
      const principal = checkKey(credential, id, record, this.#now());
      const expires = record!.expiresAt === null ? Infinity : Date.parse(record!.expiresAt);
      return { principal, until: Math.min(this.#now() + KEY_CACHE_MS, expires) };
    }
    if (this.#jwt && credential.split('.').length === 3) {
      const { principal, expiresAtMs } = await this.#jwt.verify(credential);
      return { principal, until: expiresAtMs };
    }
    throw mpError('MP_ERR_AUTH_INVALID', `the credential is neither ${this.accepts}`);
  }

  #remember(credential: string, entry: CacheEntry): void {
    // Bounded: a flood of distinct bad credentials must not grow memory.
    if (this.#cache.size >= MAX_CACHE_ENTRIES) this.#cache.clear();
    this.#cache.set(credential, entry);
  }
}

function checkKey(key: string, id: string, record: ApiKeyRecord | undefined, now: number): Principal {
  // One message for an unknown id and a wrong secret: which ids exist is nobody's business.
  if (record === undefined || !keyMatches(key, record.hash)) throw mpError('MP_ERR_AUTH_INVALID', 'the API key is not valid');
  if (record.revokedAt !== null) throw mpError('MP_ERR_AUTH_INVALID', `API key ${id} was revoked at ${record.revokedAt}`);
  if (record.expiresAt !== null && Date.parse(record.expiresAt) <= now) throw mpError('MP_ERR_AUTH_INVALID', `API key ${id} expired at ${record.expiresAt}`);
  return {
    id: `key:${id}`,
    role: record.role,
    ...(record.models !== null ? { models: new Set(record.models) } : {}),
  };
}

/** The token of `Bearer <token>` (scheme case-insensitive), else undefined. */
function bearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null) throw mpError('MP_ERR_AUTH_INVALID', "the Authorization header must be 'Bearer <token>'");
  return match[1];
}
