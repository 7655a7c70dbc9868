/**
 * The OpenAPI document of the whole REST API (GET /docs/json, and the UI at /docs): the V2 /
 * Triton routes and, when they are on, the management, drift and jobs routes under /v1.
 * @fastify/swagger documents the routes registered after it, so the server registers this first.
 *
 * The document is OpenAPI 3.0. Route schemas are written for the validator (JSON Schema 2020-12,
 * where `exclusiveMinimum` is a number); 3.0 reads the draft-4 form (`minimum` plus a boolean), so
 * the finished document is rewritten into it rather than the validating schemas weakened.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { OPEN_ROUTES } from './route-access.js';

export interface OpenApiOptions {
  /** info.version: the server's version. */
  version?: string;
}

const TAGS = [
  { name: 'health', description: 'Liveness and readiness (V2)' },
  { name: 'metadata', description: 'Server and model metadata, configuration and statistics (V2 and Triton extensions)' },
  { name: 'inference', description: 'Inference (V2, with the binary tensor data extension)' },
  { name: 'repository', description: 'Model repository index, load and unload (Triton extension)' },
  { name: 'models', description: 'Models and their versions' },
  { name: 'aliases', description: 'Names that point at versions' },
  { name: 'routing', description: 'How traffic is split between versions' },
  { name: 'rollouts', description: 'Progressive rollouts and rollback' },
  { name: 'audit', description: 'Who changed what, when and why' },
  { name: 'drift', description: 'Live data drift of watched models' },
  { name: 'jobs', description: 'Batch inference jobs over files under the data root' },
];

const DESCRIPTION =
  'The REST API of a Modelport server. Under /v2: the KServe V2 / Open Inference Protocol with the Triton extensions Triton clients use ' +
  '(binary tensor data, model configuration, statistics, repository control), at Triton\'s paths and with its status codes. ' +
  'Under /v1 (when the server runs with a registry, drift watches or a data root): register model versions, point aliases, split traffic, ' +
  'run progressive rollouts, roll back, read the audit log, the drift report and batch jobs. ' +
  'Every failure answers {"error": "..."}. Mutating /v1 requests name their actor in the x-modelport-actor header.';

export function registerOpenApi(app: FastifyInstance, options: OpenApiOptions = {}): void {
  void app.register(swagger, {
    // Components are named after the schemas' $id rather than def-0, def-1…
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Modelport', version: options.version ?? '0.0.0', description: DESCRIPTION },
      tags: TAGS,
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API key (modelport keys create) or a JWT from the configured identity provider' },
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An API key, for clients that cannot set Authorization' },
        },
      },
      // Unless the server runs --insecure; the probes are open either way (see finishDocument).
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transformObject: (document) => finishDocument('openapiObject' in document ? document.openapiObject : document.swaggerObject) as never,
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
}

/** Marks an operation whose body may be left out: @fastify/swagger always declares one required. */
export const OPTIONAL_BODY = 'x-modelport-optional-body';

const refusal = (description: string) => ({
  description,
  content: { 'application/json': { schema: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } } } },
});

function finishDocument(document: object): unknown {
  const finished = toOpenApi30(document) as { paths?: Record<string, Record<string, Record<string, unknown>>> };
  for (const [path, operations] of Object.entries(finished.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      if (OPEN_ROUTES.has(path)) operation.security = [];
      else {
        // Any operation may be refused for its credentials, whatever its own schema says.
        const responses = (operation.responses ??= {}) as Record<string, unknown>;
        responses['401'] ??= refusal('No credentials, or credentials that are not valid (unknown, revoked or expired key; a JWT that does not verify)');
        responses['403'] ??= refusal("The credential's role does not allow this operation");
        if (path.endsWith('/infer')) responses['429'] ??= refusal('A rate limit was reached; Retry-After, RateLimit-Policy and RateLimit say when to retry');
      }
      if (operation[OPTIONAL_BODY] === undefined) continue;
      delete operation[OPTIONAL_BODY];
      const body = operation.requestBody as { required?: boolean } | undefined;
      if (body) body.required = false;
    }
  }
  return finished;
}

/**
 * Rewrites JSON Schema 2020-12 keywords that OpenAPI 3.0 spells differently, everywhere in the
 * document: a numeric `exclusiveMinimum`/`exclusiveMaximum` becomes `minimum`/`maximum` plus the
 * boolean flag. Returns a copy; the cached route schemas stay as the validator needs them.
 */
export function toOpenApi30(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toOpenApi30);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = toOpenApi30(item);
  for (const [exclusive, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    const limit = out[exclusive];
    if (typeof limit === 'number') {
      const other = out[bound];
      // Both given: the tighter one wins, as JSON Schema reads them.
      const exclusiveWins = typeof other !== 'number' || (bound === 'minimum' ? limit >= other : limit <= other);
      if (exclusiveWins) {
        out[bound] = limit;
        out[exclusive] = true;
      } else {
        delete out[exclusive];
      }
    }
  }
  return out;
}
