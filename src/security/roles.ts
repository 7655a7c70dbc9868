/**
 * Who may do what. Three roles — `infer` (inference, and the metadata a client needs for it,
 * optionally limited to named models), `read` (metadata, statistics, metrics, management reads)
 * and `admin` (everything: uploads, routing, rollouts, jobs, load/unload) — and the one function
 * that decides whether a principal may perform an access. Adapters describe each route or RPC as
 * an Access; nothing else in the server makes authorisation decisions.
 */
import { mpError, unknownModelError } from '../core/index.js';

export type Role = 'infer' | 'read' | 'admin';
export const ROLES: readonly Role[] = ['infer', 'read', 'admin'];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** An authenticated caller. */
export interface Principal {
  /** Stable name for logs and rate limits: `key:<id>`, `jwt:<sub>` or `anonymous`. */
  readonly id: string;
  readonly role: Role;
  /** When set, the only models this principal may use. */
  readonly models?: ReadonlySet<string>;
}

/** The caller of a server started with --insecure: no credentials, every right. */
export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', role: 'admin' as const });

/** What a request needs. */
export type Access =
  /** Liveness/readiness probes and the API documentation: no credentials at all. */
  | { readonly need: 'open' }
  /** Any valid credential (server metadata, and paths that do not exist). */
  | { readonly need: 'any' }
  /** Running inference on a model. */
  | { readonly need: 'infer'; readonly model: string }
  /** A model's metadata, configuration or readiness: what an inference client reads first. */
  | { readonly need: 'model'; readonly model: string }
  /** Statistics, metrics, repository index, management reads. */
  | { readonly need: 'read' }
  /** Anything that changes the server: uploads, routing, rollouts, jobs, load/unload. */
  | { readonly need: 'admin' };

export const OPEN: Access = Object.freeze({ need: 'open' });
export const ANY: Access = Object.freeze({ need: 'any' });
export const READ: Access = Object.freeze({ need: 'read' });
export const ADMIN: Access = Object.freeze({ need: 'admin' });

/** Throws when `principal` may not perform `access`. */
export function authorize(principal: Principal, access: Access): void {
  switch (access.need) {
    case 'open':
    case 'any':
      return;
    case 'infer':
    case 'model':
      if (principal.role === 'admin') return;
      if (principal.role === 'read' && access.need === 'model') return;
      if (principal.role === 'infer') {
        // A credential limited to other models learns nothing about this one: it gets the answer
        // a model that does not exist gets.
        if (principal.models !== undefined && !principal.models.has(access.model)) throw unknownModelError(access.model);
        return;
      }
      throw forbidden(principal, 'run inference', "'infer' or 'admin'");
    case 'read':
      if (principal.role === 'admin' || principal.role === 'read') return;
      throw forbidden(principal, 'read statistics, metrics or management state', "'read' or 'admin'");
    case 'admin':
      if (principal.role === 'admin') return;
      throw forbidden(principal, 'change the server (uploads, routing, rollouts, jobs, load/unload)', "'admin'");
  }
}

function forbidden(principal: Principal, what: string, roles: string) {
  return mpError('MP_ERR_AUTH_FORBIDDEN', `credential ${principal.id} has role '${principal.role}', which may not ${what}; that needs role ${roles}`);
}
