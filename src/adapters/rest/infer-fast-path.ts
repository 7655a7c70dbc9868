/**
 * The direct path for `POST /v2/models/{m}[/versions/{v}]/infer`, the one route that carries
 * production traffic. It runs on node:http's request event before fastify's router, body
 * parsers, hooks and reply pipeline, which together cost about as much per request as the rest
 * of a small model's serving path; everything else (and anything this path does not recognise)
 * goes through fastify as usual. It answers exactly as the fastify route does: both call
 * handleInfer, and errors use the same status table and `{"error": ...}` body. Two things
 * only this path does: it counts requests against the in-flight cap before reading their bodies,
 * and while the server drains it answers with `Connection: close`, so that no client sends another
 * request on a connection the server is about to close (the request would be lost in the race).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isModelportError, mpError, type Logger } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import type { Gatekeeper } from '../../security/index.js';
import { decompressBody } from './decompress-body.js';
import { errorBody, errorHeaders, errorStatus } from './error-status.js';
import { HttpError } from './http-error.js';
import { handleInfer } from './infer-handler.js';
import type { InflightLimit } from './inflight-limit.js';
import { INFER_PATH, MAX_PARAM_LENGTH } from './model-paths.js';
import { requestCredentials } from './request-credentials.js';

export interface InferFastPathOptions {
  dataPlane: DataPlaneApi;
  bodyLimit: number;
  responseCompression: boolean;
  logger: Logger;
  onResponse?: (info: { method: string; url: string; status: number; durationMs: number }) => void;
  /** Admits the request (credentials, role, model, rate limits) before its body is used. */
  gatekeeper?: Gatekeeper;
  /** Cap on infer requests in flight; none when absent. */
  inflight?: InflightLimit;
  /** True once the server stops: answers then close their connection. */
  draining?: () => boolean;
}

/** Returns a request listener that handles infer and reports false for anything else. */
export function createInferFastPath(options: InferFastPathOptions): (request: IncomingMessage, response: ServerResponse) => boolean {
  const { dataPlane, bodyLimit, responseCompression, logger, onResponse, gatekeeper, inflight } = options;
  const draining = options.draining ?? (() => false);

  const fail = (request: IncomingMessage, response: ServerResponse, error: unknown, started: bigint): void => {
    const status = errorStatus(error);
    if (status >= 500 && !isModelportError(error) && !(error instanceof HttpError)) {
      logger.error({ err: error, method: request.method, url: request.url }, 'request failed unexpectedly');
    }
    const body = Buffer.from(errorBody(error instanceof Error ? error.message : String(error)), 'utf8');
    if (response.headersSent || response.destroyed) {
      response.destroy();
      return;
    }
    if (draining()) response.shouldKeepAlive = false;
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length };
    const extra = errorHeaders(error);
    if (extra) Object.assign(headers, extra);
    response.writeHead(status, headers);
    response.end(body);
    if (onResponse) report(request, status, started);
  };

  const report = (request: IncomingMessage, status: number, started: bigint): void => {
    onResponse!({ method: request.method!, url: request.url!, status, durationMs: Number(process.hrtime.bigint() - started) / 1e6 });
  };

  const answer = (request: IncomingMessage, response: ServerResponse, name: string, version: string | undefined, body: Buffer, started: bigint, receivedAt: number): void => {
    handleInfer(dataPlane, name, version, body, request.headers, response, responseCompression, receivedAt).then(
      (result) => {
        if (response.destroyed) return;
        if (draining()) response.shouldKeepAlive = false;
        const headers: Record<string, string | number> = { 'content-type': result.contentType, 'content-length': result.payload.length };
        // This exact casing on the wire: clients are only known to match it case-insensitively in C++.
        if (result.headerLength !== undefined) headers['Inference-Header-Content-Length'] = result.headerLength;
        if (result.contentEncoding !== undefined) {
          headers['content-encoding'] = result.contentEncoding;
          headers['vary'] = 'Accept-Encoding';
        }
        response.writeHead(200, headers);
        response.end(result.payload);
        if (onResponse) report(request, 200, started);
      },
      (error: unknown) => fail(request, response, error, started),
    );
  };

  return (request, response) => {
    if (request.method !== 'POST') return false;
    const match = INFER_PATH.exec(request.url!);
    // Over the router's parameter length, fastify answers (414), so both paths answer alike.
    if (match === null || match[1]!.length > MAX_PARAM_LENGTH || (match[2]?.length ?? 0) > MAX_PARAM_LENGTH) return false;
    const receivedAt = performance.now();
    const started = onResponse ? process.hrtime.bigint() : 0n;
    let name: string;
    let version: string | undefined;
    try {
      name = decodeURIComponent(match[1]!);
      version = match[2];
    } catch {
      fail(request, response, mpError('MP_ERR_REQUEST_MALFORMED', `model name in '${request.url}' is not valid percent-encoding`), started);
      return true;
    }
    if (inflight !== undefined && !inflight.enter(response)) {
      refuseUnread(request, response, inflight.refusal(name), started);
      return true;
    }
    const declared = request.headers['content-length'];
    if (declared !== undefined && Number(declared) > bodyLimit) {
      refuseUnread(request, response, mpError('MP_ERR_REQUEST_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${bodyLimit} bytes`), started);
      return true;
    }
    // Admission is decided now, before the body arrives; a refused request's body is read and
    // dropped (not buffered) so that the answer can come after it and the connection stays usable.
    let denied: unknown;
    let admitting: Promise<unknown> | undefined;
    if (gatekeeper) {
      try {
        const admitted = gatekeeper.admit(requestCredentials(request.headers), { need: 'infer', model: name });
        if (admitted instanceof Promise) admitting = admitted.catch((error: unknown) => (denied = error));
      } catch (error) {
        denied = error;
      }
    }
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    let refused = false;
    request.on('data', (chunk: Buffer) => {
      if (refused || denied !== undefined) return;
      size += chunk.length;
      if (size > bodyLimit) {
        refused = true;
        refuseUnread(request, response, mpError('MP_ERR_REQUEST_TOO_LARGE', `request body exceeds the limit of ${bodyLimit} bytes`), started);
        return;
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    });
    request.on('end', () => {
      if (refused) return;
      if (admitting !== undefined) {
        void admitting.then(() => (denied !== undefined ? fail(request, response, denied, started) : proceed()));
        return;
      }
      if (denied !== undefined) fail(request, response, denied, started);
      else proceed();
    });
    const proceed = (): void => {
      const body = chunks !== undefined ? Buffer.concat(chunks, size) : (first ?? Buffer.alloc(0));
      const encoding = request.headers['content-encoding'];
      if (encoding === undefined) {
        answer(request, response, name, version, body, started, receivedAt);
        return;
      }
      decompressBody(body, encoding, bodyLimit, (error, decoded) => {
        if (error) fail(request, response, error, started);
        else answer(request, response, name, version, decoded!, started, receivedAt);
      });
    };
    return true;
  };

  function refuseUnread(request: IncomingMessage, response: ServerResponse, error: unknown, started: bigint): void {
    // The rest of the body is discarded unread; close the connection after answering so its
    // framing cannot be misread as the next request.
    response.shouldKeepAlive = false;
    fail(request, response, error, started);
    request.resume();
  }
}
