/**
 * The gRPC adapter's one table from error to status code, the counterpart of the REST adapter's
 * error-status.ts. Kinds map the way Triton maps its error codes; the details string is the
 * catalogue message, which tritonclient shows as the exception text.
 */
import { status as Status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { isModelportError, toModelportError, type ErrorCode, type ErrorKind } from '../../core/index.js';
import { MalformedMessage } from './proto-definitions.js';

const STATUS_BY_KIND: Record<ErrorKind, Status> = {
  INVALID_ARG: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  UNAVAILABLE: Status.UNAVAILABLE,
  UNSUPPORTED: Status.UNIMPLEMENTED,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  CANCELLED: Status.CANCELLED,
  // As over HTTP (503): a request that timed out in the queue may succeed when retried, and
  // clients retry UNAVAILABLE but not DEADLINE_EXCEEDED.
  DEADLINE_EXCEEDED: Status.UNAVAILABLE,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  INTERNAL: Status.INTERNAL,
};

const STATUS_BY_CODE: Partial<Record<ErrorCode, Status>> = {
  MP_ERR_REQUEST_TOO_LARGE: Status.RESOURCE_EXHAUSTED,
};

export interface GrpcFailure {
  code: Status;
  details: string;
}

export function grpcFailure(error: unknown): GrpcFailure {
  if (error instanceof MalformedMessage) {
    return { code: Status.INVALID_ARGUMENT, details: `the request is not a valid protobuf message: ${error.reason}` };
  }
  const failure = isModelportError(error) ? error : toModelportError(error);
  return { code: STATUS_BY_CODE[failure.code] ?? STATUS_BY_KIND[failure.kind], details: failure.message };
}

/**
 * Refusals that say "not now" carry gRPC's server pushback (gRFC A6), the counterpart of HTTP's
 * Retry-After: a client with a retry policy waits this long before trying again. Rate limits say
 * how long themselves (their retry hint); the others, a second.
 */
const RETRY_LATER: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['MP_ERR_QUEUE_FULL', 'MP_ERR_OVERLOADED', 'MP_ERR_REQUEST_TIMEOUT', 'MP_ERR_SERVER_STOPPING']);
const RETRY_PUSHBACK_MS = 1000;

/** The error object grpc-js callbacks take. */
export function serviceError(error: unknown): Partial<ServiceError> {
  const { code, details } = grpcFailure(error);
  const metadata = new Metadata();
  if (isModelportError(error)) {
    const retryMs = error.retry?.retryAfterMs ?? (RETRY_LATER.has(error.code) ? RETRY_PUSHBACK_MS : undefined);
    if (retryMs !== undefined) {
      metadata.set('grpc-retry-pushback-ms', String(Math.ceil(retryMs)));
      metadata.set('retry-after', String(Math.max(1, Math.ceil(retryMs / 1000))));
    }
  }
  return { code, details, metadata };
}

export function unimplemented(what: string): Partial<ServiceError> {
  return { code: Status.UNIMPLEMENTED, details: `${what} is not supported by this server`, metadata: new Metadata() };
}
