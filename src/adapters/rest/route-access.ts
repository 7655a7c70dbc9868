/**
 * What each REST route needs, in one table so that the whole HTTP surface can be audited at a
 * glance: probes and the API documentation are open; inference and the metadata an inference
 * client reads are per model; statistics and management reads need `read`; anything that changes
 * the server needs `admin`. A path that matches no route needs a valid credential, so that
 * unauthenticated callers cannot map the API by its 404s.
 */
import { ADMIN, ANY, OPEN, READ, type Access } from '../../security/index.js';

/** Routes no request needs credentials for (the OpenAPI document marks them so too). */
export const OPEN_ROUTES: ReadonlySet<string> = new Set(['/v2/health/live', '/v2/health/ready']);

export function routeAccess(method: string, route: string | undefined, params: unknown): Access {
  if (route === undefined) return ANY;
  if (OPEN_ROUTES.has(route) || route === '/docs' || route.startsWith('/docs/')) return OPEN;
  if (route === '/v2') return ANY;
  if (route.startsWith('/v1/')) return method === 'GET' || method === 'HEAD' ? READ : ADMIN;
  if (route.startsWith('/v2/repository/models/')) return ADMIN;
  if (route === '/v2/repository/index' || route === '/v2/models/stats') return READ;
  if (route.startsWith('/v2/models/:name')) {
    const model = (params as { name?: string } | undefined)?.name ?? '';
    if (route.endsWith('/infer')) return { need: 'infer', model };
    if (route.endsWith('/stats')) return READ;
    return { need: 'model', model };
  }
  return ANY;
}
