/**
 * One infer over HTTP, independent of how the request arrived: body and headers in, status-200
 * payload and headers out. Both the fastify route and the direct infer path (infer-fast-path.ts)
 * call it, so the two can never answer differently.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { DEFAULT_REQUEST_LIMITS } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import { compressResponse, MIN_COMPRESSED_BYTES, responseCoding, type ResponseCoding } from './compress-response.js';
import { HttpRequestContext } from './http-request-context.js';
import { decodeInferRequest, parseHeaderLength } from './infer-request-decoder.js';
import { encodeInferResponse } from './infer-response-encoder.js';
import { decodeRawInferRequest } from './raw-infer-request.js';

export interface InferAnswer {
  payload: Buffer;
  contentType: 'application/json' | 'application/octet-stream';
  /** JSON header length when outputs are binary (Inference-Header-Content-Length). */
  headerLength: number | undefined;
  contentEncoding: ResponseCoding | undefined;
}

export async function handleInfer(
  dataPlane: DataPlaneApi,
  name: string,
  version: string | undefined,
  body: Buffer,
  headers: IncomingHttpHeaders,
  response: ServerResponse,
  responseCompression: boolean,
  /** performance.now() when the request started to arrive. */
  receivedAt?: number,
): Promise<InferAnswer> {
  // First, so that even a request refused while decoding answers with its x-request-id.
  const context = new HttpRequestContext(response, headers, receivedAt);
  const headerLength = parseHeaderLength(headers['inference-header-content-length'] as string | undefined, body.byteLength);
  const limits = dataPlane.limits ?? DEFAULT_REQUEST_LIMITS;
  const decoded = headerLength === 0 ? decodeRawInferRequest(dataPlane, body, name, version, limits) : decodeInferRequest(body, headerLength, name, version, limits);
  const result = await dataPlane.infer(decoded.request, context);
  // Which routing arm answered (stable, canary, direct…): with model_version, what a rollout's user sees.
  if (result.arm !== undefined) response.setHeader('x-modelport-arm', result.arm);
  const encoded = encodeInferResponse(result, decoded);
  let payload = encoded.body;
  let contentEncoding: ResponseCoding | undefined;
  if (responseCompression && payload.byteLength >= MIN_COMPRESSED_BYTES) {
    contentEncoding = responseCoding(headers['accept-encoding']);
    if (contentEncoding !== undefined) payload = await compressResponse(payload, contentEncoding);
  }
  return {
    payload,
    contentType: encoded.headerLength === undefined ? 'application/json' : 'application/octet-stream',
    headerLength: encoded.headerLength,
    contentEncoding,
  };
}
