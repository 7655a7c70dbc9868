/**
 * The credentials of an HTTP request: `Authorization: Bearer …`, or `x-api-key` for clients that
 * cannot set Authorization (some load generators, browser EventSource).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Credentials, Principal } from '../../security/index.js';

/** A fastify request once the gatekeeper has admitted it (null when the server has no gatekeeper). */
export interface RequestWithPrincipal {
  principal: Principal | null;
}

export function requestCredentials(headers: IncomingHttpHeaders): Credentials {
  const apiKey = headers['x-api-key'];
  return { authorization: headers.authorization, apiKey: Array.isArray(apiKey) ? apiKey[0] : apiKey };
}
