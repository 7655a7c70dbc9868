/**
 * The REST adapter's one table from error to HTTP status, and the `{"error": "..."}` body every
 * failure answers with. Kinds follow Triton's HttpCodeFromError where Triton has the kind; the
 * rest are choices Modelport makes (see the comments) so the same failure reads the same on every
 * route.
 */
import { isModelportError, type ErrorCode, type ErrorKind } from '../../core/index.js';
import { HttpError } from './http-error.js';

export const STATUS_BY_KIND: Record<ErrorKind, number> = {
  INVALID_ARG: 400,
  NOT_FOUND: 404,
  UNAVAILABLE: 503,
  UNSUPPORTED: 501,
  // Triton answers 400 here; 409 says "it is already there" to clients that look at the status.
  ALREADY_EXISTS: 409,
  // The request is well formed but the state forbids it (an alias still points at the version…).
  FAILED_PRECONDITION: 409,
  // 499 is not a standard status and the client that cancelled is gone anyway; Triton uses 400.
  CANCELLED: 400,
  // A request that waited out its timeout in the queue is, for Triton, UNAVAILABLE: clients
  // retry 503 but not 504, and a queue timeout is exactly the case where a retry may succeed.
  DEADLINE_EXCEEDED: 503,
  RESOURCE_EXHAUSTED: 429,
  UNAUTHENTICATED: 401,
  // A role that does not allow the operation. A credential limited to other models is answered as
  // if the model did not exist instead, so that it cannot probe which models do.
  PERMISSION_DENIED: 403,
  INTERNAL: 500,
};

/** Codes whose HTTP meaning is narrower than their kind. */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  MP_ERR_REQUEST_TOO_LARGE: 413,
  MP_ERR_UPLOAD_TOO_LARGE: 413,
};

/**
 * Refusals that say "not now": the answer carries Retry-After so clients and proxies back off
 * instead of retrying at once into the same overload. One second is the smallest the header can say.
 */
const RETRY_LATER: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['MP_ERR_QUEUE_FULL', 'MP_ERR_OVERLOADED', 'MP_ERR_REQUEST_TIMEOUT', 'MP_ERR_SERVER_STOPPING']);
export const RETRY_AFTER_SECONDS = 1;

interface StatusCarrier {
  statusCode?: unknown;
}

/** HTTP status for anything a handler threw: catalogue errors, adapter errors, fastify's own. */
export function errorStatus(error: unknown): number {
  if (isModelportError(error)) return STATUS_BY_CODE[error.code] ?? STATUS_BY_KIND[error.kind];
  if (error instanceof HttpError) return error.statusCode;
  const status = (error as StatusCarrier | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status <= 599) return status;
  return 500;
}

/** The body Triton and tritonclient agree on for every non-200 answer. */
export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

/**
 * Headers that go with an error answer besides content-type: an HttpError's own; how to
 * authenticate after a 401; when to come back after a 429 or a "not now" 503 (Retry-After always;
 * for rate limits also the RateLimit-Policy / RateLimit fields of the IETF
 * httpapi-ratelimit-headers draft).
 */
export function errorHeaders(error: unknown): Record<string, string> | undefined {
  if (!isModelportError(error)) return error instanceof HttpError ? error.headers : undefined;
  if (error.kind === 'UNAUTHENTICATED') return { 'www-authenticate': 'Bearer realm="modelport"' };
  const retry = error.retry;
  if (retry === undefined) return RETRY_LATER.has(error.code) ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : undefined;
  const seconds = Math.max(1, Math.ceil(retry.retryAfterMs / 1000));
  const headers: Record<string, string> = { 'retry-after': String(seconds) };
  if (retry.policy) {
    const { name, limit, windowSecs, remaining } = retry.policy;
    headers['ratelimit-policy'] = `"${name}";q=${limit};w=${windowSecs}`;
    headers['ratelimit'] = `"${name}";r=${remaining};t=${seconds}`;
  }
  return headers;
}
