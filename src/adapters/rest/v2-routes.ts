/**
 * The V2 / Triton REST routes, at Triton's exact paths, each a thin translation between HTTP and
 * one DataPlaneApi call. Every known path also answers the methods it does not serve with 405,
 * as Triton does; unknown paths are left to the server's 404. Bodies arrive as raw Buffers
 * (rest-server.ts) because infer bodies may be binary. Each route carries its OpenAPI description
 * (v2-schemas.ts) for the document only: fastify neither validates nor serialises with it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { mpError } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import { HttpError } from './http-error.js';
import { handleInfer } from './infer-handler.js';
import { modelPaths, type ModelParams } from './model-paths.js';
import { checkJsonDepth, parseJsonText } from './parse-json-text.js';
import * as D from './v2-schemas.js';

export interface V2RoutesOptions {
  dataPlane: DataPlaneApi;
  /** Compress infer responses when Accept-Encoding asks for gzip or deflate. */
  responseCompression: boolean;
}

type Method = 'GET' | 'POST';
type Handler = (request: FastifyRequest, reply: FastifyReply) => unknown;
/** A route's OpenAPI description; per-model routes get the unversioned or versioned form. */
type Doc = D.RouteDoc | ((versioned: boolean) => D.RouteDoc);

/** Methods that get a 405 on a known path; anything more exotic is simply Not Found. */
const ANSWERED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

const EMPTY = Buffer.alloc(0);

export function registerV2Routes(app: FastifyInstance, options: V2RoutesOptions): void {
  // Shared schemas live on the root, where @fastify/swagger looks for its components.
  for (const schema of D.V2_COMPONENTS) app.addSchema(schema);
  // A plugin, so that the routes are added after @fastify/swagger has loaded and hooked onRoute.
  void app.register(async (scope) => {
    v2Routes(scope, options);
  });
}

function v2Routes(app: FastifyInstance, options: V2RoutesOptions): void {
  const { dataPlane } = options;
  const routes = new Map<string, Set<string>>();
  const add = (method: Method, path: string, doc: D.RouteDoc, handler: Handler): void => {
    // The schema goes to the document only (swaggerTransform), never to fastify's validators.
    app.route({ method, url: path, handler, config: { swaggerTransform: ({ url }: { url: string }) => ({ schema: doc, url }) } });
    const methods = routes.get(path) ?? new Set<string>();
    methods.add(method);
    routes.set(path, methods);
  };
  const addModel = (method: Method, suffix: string, doc: Doc, handler: Handler): void => {
    const [plain, versioned] = modelPaths(suffix);
    add(method, plain, typeof doc === 'function' ? doc(false) : doc, handler);
    add(method, versioned, typeof doc === 'function' ? doc(true) : doc, handler);
  };

  add('GET', '/v2/health/live', D.HEALTH_LIVE, (_request, reply) => {
    reply.code(dataPlane.isLive() ? 200 : 400).send();
  });
  add('GET', '/v2/health/ready', D.HEALTH_READY, (_request, reply) => {
    reply.code(dataPlane.isReady() ? 200 : 400).send();
  });
  add('GET', '/v2', D.SERVER_METADATA, (_request, reply) => {
    sendJson(reply, dataPlane.serverMetadata());
  });

  add('GET', '/v2/models/stats', D.ALL_STATISTICS, (_request, reply) => {
    sendJson(reply, dataPlane.modelStatistics());
  });
  addModel('GET', '', D.modelMetadata, (request, reply) => {
    const { name, version } = request.params as ModelParams;
    sendJson(reply, dataPlane.modelMetadata(name, version));
  });
  addModel('GET', '/ready', D.modelReady, (request, reply) => {
    const { name, version } = request.params as ModelParams;
    if (!dataPlane.isModelReady(name, version)) throw new HttpError(400, 'Model version not ready');
    reply.code(200).send();
  });
  addModel('GET', '/config', D.modelConfig, (request, reply) => {
    const { name, version } = request.params as ModelParams;
    sendJson(reply, dataPlane.modelConfig(name, version));
  });
  addModel('GET', '/stats', D.modelStatistics, (request, reply) => {
    const { name, version } = request.params as ModelParams;
    sendJson(reply, dataPlane.modelStatistics(name, version));
  });
  addModel('POST', '/infer', D.infer, async (request, reply) => {
    const { name, version } = request.params as ModelParams;
    const body = (request.body as Buffer | undefined) ?? EMPTY;
    const answer = await handleInfer(dataPlane, name, version, body, request.headers, reply.raw, options.responseCompression);
    // Headers only once nothing can fail any more, so an error answer never inherits them.
    if (answer.contentEncoding !== undefined) reply.header('content-encoding', answer.contentEncoding).header('vary', 'Accept-Encoding');
    reply.header('content-type', answer.contentType);
    // Set on the raw response so the name keeps this exact casing on the wire: clients are
    // only known to match it case-insensitively in C++.
    if (answer.headerLength !== undefined) reply.raw.setHeader('Inference-Header-Content-Length', String(answer.headerLength));
    reply.send(answer.payload);
  });

  add('POST', '/v2/repository/index', D.REPOSITORY_INDEX, (request, reply) => {
    const body = optionalJsonObject(request.body);
    const ready = body?.ready ?? false;
    if (typeof ready !== 'boolean') throw mpError('MP_ERR_REQUEST_PARAMETER', "Invalid value for 'ready': expected a boolean");
    sendJson(reply, dataPlane.repositoryIndex(ready));
  });
  add('POST', '/v2/repository/models/:name/load', D.REPOSITORY_LOAD, async (request, reply) => {
    const { name } = request.params as ModelParams;
    const config = loadConfig(optionalJsonObject(request.body));
    await dataPlane.loadModel(name, config === undefined ? undefined : { config });
    reply.code(200).send();
  });
  add('POST', '/v2/repository/models/:name/unload', D.REPOSITORY_UNLOAD, async (request, reply) => {
    const { name } = request.params as ModelParams;
    // `unload_dependents` is accepted and has nothing to act on: Modelport has no ensembles yet.
    optionalJsonObject(request.body);
    await dataPlane.unloadModel(name);
    reply.code(200).send();
  });

  const methodNotAllowed: Handler = () => {
    throw new HttpError(405, 'Method Not Allowed');
  };
  for (const [path, served] of routes) {
    for (const method of ANSWERED_METHODS) {
      if (!served.has(method)) app.route({ method, url: path, handler: methodNotAllowed, config: { swaggerTransform: ({ url }) => ({ schema: { hide: true }, url }) } });
    }
  }
}

/**
 * Data plane answers are already in the protocol's JSON shape. Sent as a Buffer so the
 * Content-Type stays exactly `application/json`, as Triton sends it.
 */
function sendJson(reply: FastifyReply, value: unknown): void {
  reply.header('content-type', 'application/json').send(Buffer.from(JSON.stringify(value), 'utf8'));
}

function optionalJsonObject(body: unknown): Record<string, unknown> | undefined {
  if (!(body instanceof Uint8Array) || body.byteLength === 0) return undefined;
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  checkJsonDepth(text);
  const json = parseJsonText(text);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw mpError('MP_ERR_REQUEST_MALFORMED', 'the request body must be a JSON object');
  }
  return json as Record<string, unknown>;
}

/** The `config` load parameter: a model configuration as JSON text, replacing the one on disk. */
function loadConfig(body: Record<string, unknown> | undefined): string | undefined {
  const parameters = body?.parameters;
  if (parameters === undefined) return undefined;
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
    throw mpError('MP_ERR_REQUEST_PARAMETER', "Invalid value for 'parameters': expected an object");
  }
  let config: string | undefined;
  for (const [key, value] of Object.entries(parameters)) {
    if (key === 'config') {
      if (typeof value !== 'string') {
        throw mpError('MP_ERR_REQUEST_PARAMETER', "Invalid value for parameter 'config': expected a string holding the JSON of a model configuration");
      }
      config = value;
    } else if (key.startsWith('file:')) {
      throw mpError('MP_ERR_REQUEST_PARAMETER', `load parameter '${key}' is not supported: model files cannot be uploaded through the load request`);
    }
  }
  return config;
}
