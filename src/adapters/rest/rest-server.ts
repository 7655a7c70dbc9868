/**
 * The HTTP server of the V2 / Triton REST protocol: a fastify instance with the V2 routes, raw
 * Buffer bodies (infer bodies may be binary; JSON is parsed by the routes, BigInt-aware), request
 * decompression, and one error path so that every failure, fastify's own included, answers
 * `{"error": "..."}` with the status from error-status.ts. Connection timeouts are set for life
 * behind a load balancer, and header, time and connection limits (http-listener.ts) against
 * clients that hold the server; close() drains in-flight requests.
 */
import type { AddressInfo } from 'node:net';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type InjectOptions,
  type LightMyRequestResponse,
} from 'fastify';
import { isModelportError, silentLogger, type Logger } from '../../core/index.js';
import type { DataPlaneApi, ManagementApi } from '../../dataplane/index.js';
import type { Gatekeeper, TlsMaterial } from '../../security/index.js';
import type { RequestWithPrincipal } from './request-credentials.js';
import { decompressBody } from './decompress-body.js';
import { errorBody, errorHeaders, errorStatus } from './error-status.js';
import { drainHttpServer } from './http-drain.js';
import { HttpError } from './http-error.js';
import {
  clientErrorAnswer,
  createHttpListener,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type HttpListenerOptions,
} from './http-listener.js';
import { createInferFastPath } from './infer-fast-path.js';
import type { InflightLimit } from './inflight-limit.js';
import { registerDriftRoutes, type DriftStatusSource } from './drift-routes.js';
import { registerJobRoutes, type JobsApi } from './job-routes.js';
import { registerManagementRoutes } from './management-routes.js';
import { requestCredentials } from './request-credentials.js';
import { routeAccess } from './route-access.js';
import { MAX_PARAM_LENGTH } from './model-paths.js';
import { registerOpenApi } from './openapi.js';
import { registerV2Routes } from './v2-routes.js';

/** Triton's HTTP_DEFAULT_MAX_INPUT_SIZE. */
export const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;

export interface RestResponseInfo {
  method: string;
  url: string;
  status: number;
  durationMs: number;
}

export interface RestServerOptions {
  dataPlane: DataPlaneApi;
  logger?: Logger;
  /** Largest request body in bytes, after decompression too. */
  bodyLimit?: number;
  /** Called once per answered request, e.g. to log it. */
  onResponse?: (info: RestResponseInfo) => void;
  /** Gzip/deflate infer responses when the client's Accept-Encoding asks (default true). */
  responseCompression?: boolean;
  /**
   * Serve infer on node:http directly, ahead of fastify's router (default true). Off, infer goes
   * through the fastify route like every other path; both answer the same.
   */
  inferFastPath?: boolean;
  /** Idle keep-alive time; above common load-balancer idle timeouts (60 s) by default. */
  keepAliveTimeoutMs?: number;
  /** When given, the management API is served under /v1/ (the OpenAPI document at /docs covers it too). */
  management?: ManagementApi;
  /** When given, the drift report is served at /v1/drift and /v1/models/{model}/drift. */
  drift?: DriftStatusSource;
  /** When given, batch jobs are served at /v1/jobs. */
  jobs?: JobsApi;
  /** Largest request header section in bytes; larger is 431 (default 16 KiB, Node's). */
  maxHeaderBytes?: number;
  /** Time a request's headers may take to arrive, from its first byte; slower is 408 (default 15 s). */
  headersTimeoutMs?: number;
  /** Time a whole request may take to arrive; slower is 408 (default 300 s). */
  requestTimeoutMs?: number;
  /** Open connections at most; requests on connections beyond are answered 503 (default 4096, 0 = no limit). */
  maxConnections?: number;
  /** Authenticates, authorises (route-access.ts) and rate-limits every request; absent = all allowed. */
  gatekeeper?: Gatekeeper;
  /** Serve HTTPS with this certificate; `ca` asks for and checks client certificates. */
  tls?: TlsMaterial;
  /** Cap on infer requests in flight, checked before their bodies are read. */
  inflight?: InflightLimit;
}


export interface RestAddress {
  host: string;
  port: number;
}

export interface RestServer {
  /** Starts listening; port 0 picks a free port, reported in the result. */
  listen(address: RestAddress): Promise<RestAddress>;
  /** Stops accepting connections and resolves once requests in flight are answered. */
  close(): Promise<void>;
  /** Sends a request through the routes without a socket, for tests. */
  inject(options: InjectOptions | string): Promise<LightMyRequestResponse>;
  readonly fastify: FastifyInstance;
}

const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000;

export function createRestServer(options: RestServerOptions): RestServer {
  const logger = options.logger ?? silentLogger;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const keepAliveTimeout = options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
  let draining = false;

  const fastPath = options.inferFastPath === false
    ? undefined
    : createInferFastPath({
        dataPlane: options.dataPlane,
        bodyLimit,
        responseCompression: options.responseCompression ?? true,
        logger,
        ...(options.onResponse ? { onResponse: options.onResponse } : {}),
        ...(options.gatekeeper ? { gatekeeper: options.gatekeeper } : {}),
        ...(options.inflight ? { inflight: options.inflight } : {}),
        draining: () => draining,
      });
  const tls = options.tls;

  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const listener: Omit<HttpListenerOptions, 'handler' | 'fastPath'> = {
    keepAliveTimeoutMs: keepAliveTimeout,
    headersTimeoutMs: Math.min(options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout),
    requestTimeoutMs: requestTimeout,
    maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
  };
  const app = Fastify({
    logger: false,
    // The node:http server with its limits and timeouts (http-listener.ts), the fast path ahead of fastify.
    serverFactory: (handler) => createHttpListener({ handler, fastPath, ...listener, ...(tls ? { tls } : {}) }),
    bodyLimit,
    keepAliveTimeout,
    requestTimeout,
    // Requests still arriving on open connections while closing are served (with Connection:
    // close) rather than refused: the data plane keeps running until the listener is closed.
    return503OnClosing: false,
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler: clientErrorAnswer(listener),
    frameworkErrors: (error, _request, reply) => sendError(reply, errorStatus(error), error.message),
  });

  app.removeAllContentTypeParsers();
  const parseBody = (request: FastifyRequest, body: Buffer, done: (error: Error | null, body?: Buffer) => void): void => {
    decompressBody(body, request.headers['content-encoding'], bodyLimit, done);
  };
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, parseBody as never);
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, parseBody as never);

  app.setNotFoundHandler((_request, reply) => {
    sendError(reply, 404, 'Not Found');
  });
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const status = errorStatus(error);
    if (status >= 500 && !isModelportError(error) && !(error instanceof HttpError)) {
      logger.error({ err: error, method: request.method, url: request.url }, 'request failed unexpectedly');
    }
    const headers = errorHeaders(error);
    if (headers) reply.headers(headers);
    sendError(reply, status, errorMessage(error, request, bodyLimit));
  });

  const gatekeeper = options.gatekeeper;
  if (gatekeeper) {
    // Before the body is read, on every route and on paths that match none.
    // The principal stays on the request: the management routes write it into the audit log.
    app.decorateRequest('principal', null);
    app.addHook('onRequest', (request, _reply, done) => {
      let admitted;
      try {
        admitted = gatekeeper.admit(requestCredentials(request.headers), routeAccess(request.method, request.routeOptions.url, request.params));
      } catch (error) {
        done(error as Error);
        return;
      }
      if (admitted instanceof Promise) {
        admitted.then((principal) => {
          (request as unknown as RequestWithPrincipal).principal = principal;
          done();
        }, done);
      } else {
        (request as unknown as RequestWithPrincipal).principal = admitted;
        done();
      }
    });
  }

  const onResponse = options.onResponse;
  if (onResponse) {
    app.addHook('onResponse', (request, reply, done) => {
      onResponse({ method: request.method, url: request.url, status: reply.statusCode, durationMs: reply.elapsedTime });
      done();
    });
  }

  // First: the document covers the routes registered after it.
  registerOpenApi(app, { version: options.dataPlane.serverMetadata().version });
  registerV2Routes(app, { dataPlane: options.dataPlane, responseCompression: options.responseCompression ?? true });
  if (options.management) registerManagementRoutes(app, options.management);
  if (options.drift) registerDriftRoutes(app, options.drift);
  if (options.jobs) registerJobRoutes(app, options.jobs);

  return {
    fastify: app,
    inject: (injectOptions) => app.inject(injectOptions as InjectOptions),
    async listen(address) {
      await app.listen({ host: address.host, port: address.port });
      const bound = app.server.address() as AddressInfo;
      return { host: bound.address, port: bound.port };
    },
    async close() {
      draining = true;
      if (app.server.listening) await drainHttpServer(app.server);
      await app.close();
    },
  };
}

function sendError(reply: FastifyReply, status: number, message: string): void {
  reply.code(status).header('content-type', 'application/json').send(Buffer.from(errorBody(message), 'utf8'));
}

function errorMessage(error: Error, request: FastifyRequest, bodyLimit: number): string {
  switch ((error as FastifyError).code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const declared = request.headers['content-length'];
      return declared !== undefined && /^\d+$/.test(declared)
        ? `request body of ${declared} bytes exceeds the limit of ${bodyLimit} bytes`
        : `request body exceeds the limit of ${bodyLimit} bytes`;
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `unsupported Content-Type '${request.headers['content-type'] ?? ''}'`;
    default:
      return error.message;
  }
}
