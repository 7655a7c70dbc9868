/**
 * The one gate every request passes, on every listener (REST, gRPC, metrics, management): it
 * authenticates the credential, authorises the access the adapter describes, and counts inference
 * against the rate limits. With `insecure` (an explicit opt-in) nobody is asked for credentials
 * and every caller is ANONYMOUS; the limits still apply. Probes (`open`) never need credentials.
 */
import { ANONYMOUS, authorize, type Access, type Principal } from './roles.js';
import type { Authenticator } from './authenticator.js';
import type { RateLimits } from './rate-limits.js';

/** The credentials a request carries, however its protocol spells them. */
export interface Credentials {
  /** Authorization header / metadata value. */
  authorization?: string | undefined;
  /** x-api-key header / metadata value. */
  apiKey?: string | undefined;
}

export interface GatekeeperOptions {
  /** Serve without credentials. */
  insecure: boolean;
  authenticator?: Authenticator;
  limits?: RateLimits;
}

export class Gatekeeper {
  readonly insecure: boolean;
  readonly #authenticator: Authenticator | undefined;
  readonly #limits: RateLimits | undefined;

  constructor(options: GatekeeperOptions) {
    this.insecure = options.insecure;
    this.#authenticator = options.authenticator;
    this.#limits = options.limits?.enabled ? options.limits : undefined;
  }

  /**
   * The principal allowed to perform `access` with these credentials, synchronously when the
   * answer is cached; throws (or rejects) with an authentication, authorisation or rate-limit
   * error otherwise. Inference accesses are counted against the rate limits.
   */
  admit(credentials: Credentials, access: Access): Principal | Promise<Principal> {
    if (access.need === 'open') return ANONYMOUS;
    let principal: Principal | Promise<Principal>;
    if (this.insecure || this.#authenticator === undefined) principal = ANONYMOUS;
    else principal = this.#authenticator.authenticate(credentials.authorization, credentials.apiKey);
    if (principal instanceof Promise) return principal.then((p) => this.#allow(p, access));
    return this.#allow(principal, access);
  }

  #allow(principal: Principal, access: Access): Principal | Promise<Principal> {
    authorize(principal, access);
    if (this.#limits !== undefined && access.need === 'infer') return this.#limits.consume(principal, access.model).then(() => principal);
    return principal;
  }
}
