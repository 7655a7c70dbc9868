/**
 * The management API over HTTP: versions and uploads, aliases, routing, rollouts, rollback and
 * the audit log under /v1/, each route a thin translation to one ManagementApi call, each with
 * the TypeBox schemas that validate it and describe it in the OpenAPI document (openapi.ts).
 *
 * The /v1 routes live in an encapsulated scope so that what they need differs from the V2 routes
 * without touching them: JSON bodies are parsed (the V2 routes take raw Buffers), schemas are
 * checked by TypeBox with messages that name the offending field, and uploads get the request
 * stream itself rather than a buffered body. Errors take the server's one error path
 * (rest-server.ts): `{"error": "..."}` with the status from error-status.ts.
 */
import { Readable } from 'node:stream';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { Type, type Static } from 'typebox';
import { mpError, type RolloutPolicy } from '../../core/index.js';
import type { Actor, ManagementApi, PublishRequest } from '../../dataplane/index.js';
import { decompressBody } from './decompress-body.js';
import { HttpError } from './http-error.js';
import * as S from './management-schemas.js';
import { checkJsonDepth } from './parse-json-text.js';
import { withUploadBody } from './upload-body.js';
import type { RequestWithPrincipal } from './request-credentials.js';

/**
 * The publisher enforces its own size limit while it streams an upload; fastify's body limit must
 * not cut in first (it is not applied to streamed bodies anyway, but routes must declare one).
 */
export const UPLOAD_BODY_LIMIT = 4 * 1024 ** 3;

const DEFAULT_ACTOR = 'api';

/** When each failure status is answered, for the OpenAPI document. */
const FAILURES: Record<number, string> = {
  400: 'The request is invalid: a field, parameter or spec the message names',
  404: 'No such model, version, alias or rollout',
  409: 'The current state forbids it (the version is in use, a rollout is running…)',
  413: 'The upload exceeds the size limit',
  414: 'A path parameter is longer than 1024 characters',
  415: 'Unsupported Content-Type or Content-Encoding',
};

/**
 * Registers the /v1 management routes. The OpenAPI document (openapi.ts) is registered by the
 * server before them; these routes add their shared schemas as its components.
 */
export function registerManagementRoutes(app: FastifyInstance, management: ManagementApi): void {
  // Shared schemas live on the root, where @fastify/swagger looks for its components.
  for (const schema of S.COMPONENTS) app.addSchema(schema);
  void app.register(
    async (scope) => {
      managementScope(scope, management);
    },
    { prefix: '/v1' },
  );
}

/**
 * What every /v1 scope shares: TypeBox validation with messages that name the field, responses
 * written as given, and JSON bodies (decompressed, nesting-checked) parsed here, since the root
 * keeps raw Buffers for the V2 routes.
 */
export function jsonApiScope(scope: FastifyInstance): void {
  scope.setValidatorCompiler(TypeBoxValidatorCompiler);
  scope.setSchemaErrorFormatter(validationError);
  // Response schemas are documentation: fast-json-stringify would drop any field a schema does not
  // list (and throw on a missing required one), so a newer record would lose data on the wire.
  scope.setSerializerCompiler(() => (data) => JSON.stringify(data));

  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    decompressBody(body as Buffer, request.headers['content-encoding'], request.routeOptions.bodyLimit, (error, decoded) => {
      if (error) {
        done(error);
        return;
      }
      try {
        done(null, parseJsonBody(decoded!));
      } catch (parseError) {
        done(parseError as Error);
      }
    });
  });
}

function managementScope(scope: FastifyInstance, management: ManagementApi): void {
  jsonApiScope(scope);
  // POST with no body at all (`curl -X POST .../pause`) means "no options", like `{}`.
  scope.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.routeOptions.schema?.body !== undefined) request.body = {};
  });

  const r = scope.withTypeProvider<TypeBoxTypeProvider>();
  const failures = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, S.errorBody(FAILURES[status])]));
  const model = { params: S.ModelParams };

  // --- models and versions

  r.get('/models', {
    schema: { tags: ['models'], summary: 'Every model with its versions, aliases, routing and rollout', response: { 200: S.list('ModelSummary', 'The models') } },
  }, () => management.listModels());

  r.get('/models/:model', {
    schema: { tags: ['models'], summary: 'One model', ...model, response: { 200: S.answer('ModelSummary', 'The model'), ...failures(400, 404, 414) } },
  }, (request) => management.model(request.params.model));

  r.get('/models/:model/versions', {
    schema: { tags: ['models'], summary: "A model's versions", ...model, response: { 200: S.list('VersionView', 'The versions, oldest first'), ...failures(400, 404, 414) } },
  }, (request) => management.listVersions(request.params.model));

  r.get('/models/:model/versions/:version', {
    schema: { tags: ['models'], summary: 'One version, by number or alias', params: S.VersionParams, response: { 200: S.answer('VersionView', 'The version'), ...failures(400, 404, 414) } },
  }, (request) => management.version(request.params.model, versionRef(request.params.version)));

  r.delete('/models/:model/versions/:version', {
    schema: {
      tags: ['models'],
      summary: 'Delete a version that nothing serves or points at',
      params: S.VersionParams,
      headers: S.ActorHeaders,
      response: { 204: Type.Null({ description: 'Deleted' }), ...failures(400, 404, 414, 409) },
    },
  }, async (request, reply) => {
    const { model: name, version } = request.params;
    const ref = versionRef(version);
    // An alias names the version it points at now; deleteVersion takes numbers only.
    const number = typeof ref === 'number' ? ref : (await management.version(name, ref)).version;
    await management.deleteVersion(name, number, actor(request));
    reply.code(204).send(null);
  });

  // The upload gets a scope of its own: the only one whose body is the raw request stream.
  void scope.register(async (upload) => {
    upload.removeAllContentTypeParsers();
    upload.addContentTypeParser('application/octet-stream', (request, payload, done) => {
      const coding = request.headers['content-encoding'];
      if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
        done(new HttpError(415, `unsupported Content-Encoding '${coding}' for a model upload: send the file as it is`));
        return;
      }
      done(null, payload);
    });
    upload.withTypeProvider<TypeBoxTypeProvider>().post('/models/:model/versions', {
      bodyLimit: UPLOAD_BODY_LIMIT,
      schema: {
        tags: ['models'],
        summary: 'Upload a model file as a new version',
        description: 'The body is the ONNX file (application/octet-stream), streamed. Registering a version never changes what serves, unless the alias it sets is serving.',
        ...model,
        querystring: S.UploadQuery,
        headers: S.UploadHeaders,
        response: { 201: S.answer('VersionView', 'The new version'), ...failures(400, 404, 414, 409, 413, 415) },
      },
      // The body is a stream, never validated; the document still shows what it is.
      config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: S.UploadBodyDoc }, url }) },
    }, async (request, reply) => {
      const raw = request.body;
      if (!(raw instanceof Readable)) {
        throw mpError('MP_ERR_REQUEST_MALFORMED', 'the request body must be the model file, sent as application/octet-stream');
      }
      const query = request.query;
      const headerDigest = singleHeader(request.headers['x-modelport-digest']);
      if (headerDigest !== undefined && query.digest !== undefined && headerDigest !== query.digest) {
        throw mpError('MP_ERR_UPLOAD_DIGEST', `the x-modelport-digest header (${headerDigest}) and the digest query parameter (${query.digest}) differ`);
      }
      const digest = headerDigest ?? query.digest;
      const tags = parseTags(query.tags);
      const publish: Omit<PublishRequest, 'body'> = {
        model: request.params.model,
        ...(digest !== undefined ? { digest } : {}),
        ...(query.alias !== undefined ? { alias: query.alias } : {}),
        ...(query.description !== undefined ? { description: query.description } : {}),
        ...(query.source !== undefined ? { source: query.source } : {}),
        ...(query.run_id !== undefined ? { runId: query.run_id } : {}),
        ...(tags !== undefined ? { tags } : {}),
      };
      reply.code(201).send(await withUploadBody(raw, (body) => management.publish({ ...publish, body }, actor(request))));
    });
  });

  // --- aliases

  r.get('/models/:model/aliases', {
    schema: { tags: ['aliases'], summary: "A model's aliases", ...model, response: { 200: S.list('AliasRecord', 'The aliases'), ...failures(400, 404, 414) } },
  }, (request) => management.listAliases(request.params.model));

  r.put('/models/:model/aliases/:alias', {
    schema: {
      tags: ['aliases'],
      summary: 'Point an alias at a version (creating it if needed)',
      params: S.AliasParams,
      headers: S.ActorHeaders,
      body: S.AliasBody,
      response: { 200: S.answer('AliasRecord', 'The alias as it is now'), ...failures(400, 404, 414, 409) },
    },
  }, (request) => management.setAlias(request.params.model, request.params.alias, versionRef(request.body.version), actor(request)));

  r.delete('/models/:model/aliases/:alias', {
    schema: {
      tags: ['aliases'],
      summary: 'Delete an alias',
      params: S.AliasParams,
      headers: S.ActorHeaders,
      response: { 204: Type.Null({ description: 'Deleted' }), ...failures(400, 404, 414, 409) },
    },
  }, async (request, reply) => {
    await management.deleteAlias(request.params.model, request.params.alias, actor(request));
    reply.code(204).send(null);
  });

  // --- routing

  r.get('/models/:model/routing', {
    schema: { tags: ['routing'], summary: 'The routing and per-arm counts since it was applied', ...model, response: { 200: S.answer('RoutingView', 'The routing and its counts'), ...failures(400, 404, 414) } },
  }, (request) => management.routing(request.params.model));

  r.put('/models/:model/routing', {
    schema: {
      tags: ['routing'],
      summary: 'Replace the routing (or, with dry_run, show what would change)',
      description: 'Every version the spec needs is loaded and warmed before the switch. Unknown keys are refused by name.',
      ...model,
      querystring: S.RoutingQuery,
      headers: S.ActorHeaders,
      body: S.RoutingBody,
      response: { 200: S.answer('RoutingChange', 'The change: before, after, diff (and the stored record unless a dry run)'), ...failures(400, 404, 414, 409) },
    },
  }, (request) => {
    // Everything but the reason is the spec, unknown keys included: setRouting names them.
    const { reason, ...spec } = request.body;
    return management.setRouting(request.params.model, spec, { dryRun: request.query.dry_run ?? false, ...(reason !== undefined ? { reason } : {}) }, actor(request));
  });

  // --- rollouts

  r.get('/models/:model/rollout', {
    schema: { tags: ['rollouts'], summary: 'The current (or last) rollout', ...model, response: { 200: S.answer('RolloutView', 'The rollout'), ...failures(400, 404, 414) } },
  }, async (request) => {
    const rollout = await management.rollout(request.params.model);
    if (rollout === undefined) throw mpError('MP_ERR_ROLLOUT_UNKNOWN', `model '${request.params.model}' has no rollout`);
    return rollout;
  });

  r.get('/models/:model/rollouts', {
    schema: { tags: ['rollouts'], summary: "A model's rollouts", ...model, response: { 200: S.list('RolloutView', 'The rollouts, newest first'), ...failures(400, 404, 414) } },
  }, (request) => management.listRollouts(request.params.model));

  r.post('/models/:model/rollout', {
    schema: {
      tags: ['rollouts'],
      summary: 'Start a progressive rollout to a version',
      ...model,
      headers: S.ActorHeaders,
      body: S.RolloutStartBody,
      response: { 201: S.answer('RolloutView', 'The rollout, started'), ...failures(400, 404, 414, 409) },
    },
  }, async (request, reply) => {
    const { to, ...options } = request.body;
    const policy = rolloutPolicy(options);
    const view = await management.startRollout({ model: request.params.model, to: versionRef(to), ...(policy ? { policy } : {}) }, actor(request));
    reply.code(201).send(view);
  });

  const transitions = {
    pause: (name: string, who: Actor, reason?: string) => management.pauseRollout(name, who, reason),
    // resume takes no reason; one sent is accepted like on the other transitions.
    resume: (name: string, who: Actor) => management.resumeRollout(name, who),
    promote: (name: string, who: Actor, reason?: string) => management.promoteRollout(name, who, reason),
    abort: (name: string, who: Actor, reason?: string) => management.abortRollout(name, who, reason),
  };
  const summaries = { pause: 'Pause the rollout', resume: 'Resume a paused rollout', promote: 'Send all traffic to the candidate now', abort: 'Abort the rollout and return to the stable version' };
  for (const [action, transition] of Object.entries(transitions)) {
    r.post(`/models/:model/rollout/${action}`, {
      schema: {
        tags: ['rollouts'],
        summary: summaries[action as keyof typeof summaries],
        ...model,
        headers: S.ActorHeaders,
        body: S.ReasonBody,
        response: { 200: S.answer('RolloutView', 'The rollout as it is now'), ...failures(400, 404, 414, 409) },
      },
    }, (request) => transition(request.params.model, actor(request), request.body.reason));
  }

  r.post('/models/:model/rollback', {
    schema: {
      tags: ['rollouts'],
      summary: 'Serve an earlier version again',
      description: 'Without `to` or `at`: the version that served before the current one.',
      ...model,
      headers: S.ActorHeaders,
      body: S.RollbackBody,
      response: { 200: S.answer('RoutingRecord', 'The routing now in force'), ...failures(400, 404, 414, 409) },
    },
  }, (request) => {
    const { to, at, reason } = request.body;
    return management.rollback(
      { model: request.params.model, ...(to !== undefined ? { to: versionRef(to) } : {}), ...(at !== undefined ? { at } : {}), ...(reason !== undefined ? { reason } : {}) },
      actor(request),
    );
  });

  // --- audit

  r.get('/audit', {
    schema: { tags: ['audit'], summary: 'The audit log, newest first', querystring: S.AuditQuery, response: { 200: S.list('AuditEntry', 'The entries, newest first'), ...failures(400) } },
  }, (request) => {
    const { model: name, limit, until } = request.query;
    return management.audit({ ...(name !== undefined ? { model: name } : {}), ...(limit !== undefined ? { limit } : {}), ...(until !== undefined ? { until } : {}) });
  });
}

// ---------------------------------------------------------------------------------------------

/** "3" is version 3; anything else is an alias for the registry to resolve. */
function versionRef(value: number | string): number | string {
  return typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  const trimmed = text?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

/**
 * Who made a change, for the audit log: the authenticated credential, with the name the client
 * gives in x-modelport-actor beside it (a claim, so it never replaces the credential); only that
 * name on a server without credentials.
 */
function actor(request: FastifyRequest): Actor {
  const claimed = singleHeader(request.headers['x-modelport-actor']);
  const principal = (request as unknown as Partial<RequestWithPrincipal>).principal;
  if (principal && principal.id !== 'anonymous') return { name: claimed ? `${claimed} (${principal.id})` : principal.id };
  return { name: claimed ?? DEFAULT_ACTOR };
}

function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const text = body.toString('utf8');
  checkJsonDepth(text);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw mpError('MP_ERR_REQUEST_MALFORMED', `the request body is not valid JSON: ${(error as Error).message}`, error);
  }
}

/** `tags=team=search,stage=prod` (the parameter may also repeat) into an object. */
export function parseTags(value: string | string[] | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const tags: Record<string, string> = {};
  for (const pair of (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(','))) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = at < 0 ? '' : pair.slice(0, at).trim();
    if (key === '') {
      throw mpError('MP_ERR_REQUEST_PARAMETER', `Invalid value for query parameter 'tags': '${pair}' is not a key=value pair`);
    }
    tags[key] = pair.slice(at + 1).trim();
  }
  return tags;
}

type RolloutOptions = Omit<Static<typeof S.RolloutStartBody>, 'to'>;

function rolloutPolicy(options: RolloutOptions): Partial<RolloutPolicy> | undefined {
  const policy: Partial<RolloutPolicy> = {};
  if (options.steps !== undefined) policy.steps = options.steps;
  if (options.interval_ms !== undefined) policy.intervalMs = options.interval_ms;
  if (options.max_error_rate !== undefined) policy.maxErrorRate = options.max_error_rate;
  if (options.max_p99_ms !== undefined) policy.maxP99Ms = options.max_p99_ms;
  if (options.max_latency_ratio !== undefined) policy.maxLatencyRatio = options.max_latency_ratio;
  if (options.min_requests !== undefined) policy.minRequests = options.min_requests;
  if (options.max_output_drift !== undefined) policy.maxOutputDrift = options.max_output_drift;
  return Object.keys(policy).length > 0 ? policy : undefined;
}

// ---------------------------------------------------------------------------------------------
// Validation messages

type ErrorPart = 'body' | 'headers' | 'params' | 'querystring';

/**
 * One message for a request part's schema errors that names each offending field: "body.arms[0].weight
 * must be number", "body.stesp is not a known field", "query parameter 'limit' must be >= 1".
 */
export function validationError(errors: FastifySchemaValidationError[], part: string): Error {
  const where = part as ErrorPart;
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  const insideAnyOf = (e: FastifySchemaValidationError) => anyOfs.some((a) => a !== e && e.schemaPath.startsWith(`${a.schemaPath}/anyOf/`));
  const messages: string[] = [];
  for (const error of errors) {
    const params = error.params as Record<string, unknown>;
    // additionalProperties: false also reports each extra key as "schema is false"; the
    // additionalProperties entry names them all.
    if (error.keyword === 'boolean' || insideAnyOf(error)) continue;
    if (error.keyword === 'required') {
      const missing = (params.requiredProperties as string[] | undefined) ?? [String(params.missingProperty)];
      for (const name of missing) messages.push(`${fieldName(where, `${error.instancePath}/${name}`)} is required`);
    } else if (error.keyword === 'additionalProperties') {
      const extra = (params.additionalProperties as string[] | string | undefined) ?? [];
      for (const name of Array.isArray(extra) ? extra : [extra]) messages.push(`${fieldName(where, `${error.instancePath}/${name}`)} is not a known field`);
    } else if (error.keyword === 'anyOf') {
      messages.push(`${fieldName(where, error.instancePath)} ${alternatives(errors, error)}`);
    } else {
      messages.push(`${fieldName(where, error.instancePath)} ${error.message ?? 'is invalid'}`);
    }
  }
  const unique = [...new Set(messages)];
  return new Error(unique.length > 0 ? unique.join('; ') : `${where} is invalid`);
}

/** "must be integer or string", "must be one of 'a', 'b'" from the branches' own errors. */
function alternatives(errors: FastifySchemaValidationError[], anyOf: FastifySchemaValidationError): string {
  const branches = errors.filter((e) => e.schemaPath.startsWith(`${anyOf.schemaPath}/anyOf/`) && e.instancePath === anyOf.instancePath);
  if (branches.length > 0 && branches.every((e) => e.keyword === 'const')) {
    return `must be one of ${branches.map((e) => JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)).join(', ')}`;
  }
  if (branches.length > 0) {
    const options = branches.map((e) => (e.keyword === 'type' ? String((e.params as { type?: unknown }).type) : (e.message ?? '').replace(/^must be /, '')));
    return `must be ${[...new Set(options)].join(' or ')}`;
  }
  return anyOf.message ?? 'is invalid';
}

function fieldName(part: ErrorPart, instancePath: string): string {
  const segments = instancePath.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (part === 'body') return segments.reduce((path, s) => (/^[0-9]+$/.test(s) ? `${path}[${s}]` : `${path}.${s}`), 'body');
  const label = part === 'querystring' ? 'query parameter' : part === 'params' ? 'path parameter' : 'header';
  if (segments.length === 0) return part === 'querystring' ? 'the query string' : part === 'params' ? 'the path' : 'the headers';
  const [first, ...rest] = segments;
  return `${label} '${first}${rest.map((s) => `[${s}]`).join('')}'`;
}
