/**
 * The one error catalogue. Every failure that reaches a user carries a code from here
 * (MP_ERR_<AREA>_<WHAT>) and a message that says what was wrong and what was expected.
 * Each code has a kind; adapters own the kind → HTTP status / gRPC code tables.
 */

export type ErrorKind =
  | 'INVALID_ARG'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'UNSUPPORTED'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'CANCELLED'
  | 'DEADLINE_EXCEEDED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'INTERNAL';

export const ERROR_CODES = {
  // requests: malformed or not matching the model signature
  MP_ERR_REQUEST_MALFORMED: 'INVALID_ARG',
  MP_ERR_REQUEST_TOO_LARGE: 'INVALID_ARG',
  MP_ERR_REQUEST_PARAMETER: 'INVALID_ARG',
  MP_ERR_INPUT_UNKNOWN: 'INVALID_ARG',
  MP_ERR_INPUT_MISSING: 'INVALID_ARG',
  MP_ERR_INPUT_DUPLICATE: 'INVALID_ARG',
  MP_ERR_INPUT_DATATYPE: 'INVALID_ARG',
  MP_ERR_INPUT_SHAPE: 'INVALID_ARG',
  MP_ERR_INPUT_DATA: 'INVALID_ARG',
  MP_ERR_OUTPUT_UNKNOWN: 'INVALID_ARG',
  // models and versions
  MP_ERR_MODEL_UNKNOWN: 'INVALID_ARG',
  MP_ERR_MODEL_VERSION_UNKNOWN: 'NOT_FOUND',
  MP_ERR_MODEL_VERSION_INVALID: 'INVALID_ARG',
  MP_ERR_MODEL_NOT_READY: 'UNAVAILABLE',
  MP_ERR_MODEL_NO_VERSIONS: 'NOT_FOUND',
  MP_ERR_MODEL_CONFIG: 'INVALID_ARG',
  MP_ERR_MODEL_LOAD: 'INTERNAL',
  // repository control
  MP_ERR_REPOSITORY_CONTROL_MODE: 'UNSUPPORTED',
  MP_ERR_REPOSITORY_NAME: 'INVALID_ARG',
  // scheduling
  MP_ERR_QUEUE_FULL: 'UNAVAILABLE',
  MP_ERR_OVERLOADED: 'UNAVAILABLE',
  MP_ERR_REQUEST_TIMEOUT: 'DEADLINE_EXCEEDED',
  MP_ERR_REQUEST_CANCELLED: 'CANCELLED',
  MP_ERR_SERVER_STOPPING: 'UNAVAILABLE',
  // runtime
  MP_ERR_RUNTIME_CRASHED: 'INTERNAL',
  MP_ERR_RUNTIME_FAILED: 'INTERNAL',
  // registry: versions, aliases, routing, rollouts, uploads
  MP_ERR_REGISTRY_CONFLICT: 'ALREADY_EXISTS',
  MP_ERR_REGISTRY_IN_USE: 'FAILED_PRECONDITION',
  MP_ERR_REGISTRY_ALIAS_UNKNOWN: 'NOT_FOUND',
  MP_ERR_REGISTRY_ALIAS_INVALID: 'INVALID_ARG',
  MP_ERR_REGISTRY_NAME: 'INVALID_ARG',
  MP_ERR_REGISTRY_UNAVAILABLE: 'UNAVAILABLE',
  MP_ERR_ROUTING_INVALID: 'INVALID_ARG',
  MP_ERR_ROUTING_CONFLICT: 'FAILED_PRECONDITION',
  MP_ERR_ROLLOUT_INVALID: 'INVALID_ARG',
  MP_ERR_ROLLOUT_STATE: 'FAILED_PRECONDITION',
  MP_ERR_ROLLOUT_UNKNOWN: 'NOT_FOUND',
  MP_ERR_UPLOAD_TOO_LARGE: 'INVALID_ARG',
  MP_ERR_UPLOAD_DIGEST: 'INVALID_ARG',
  MP_ERR_UPLOAD_INVALID_MODEL: 'INVALID_ARG',
  MP_ERR_VERSION_LOAD_FAILED: 'FAILED_PRECONDITION',
  // monitoring
  MP_ERR_DRIFT_NOT_WATCHED: 'NOT_FOUND',
  // batch jobs
  MP_ERR_JOB_INVALID: 'INVALID_ARG',
  MP_ERR_JOB_INPUT: 'INVALID_ARG',
  MP_ERR_JOB_UNKNOWN: 'NOT_FOUND',
  MP_ERR_JOB_STATE: 'FAILED_PRECONDITION',
  MP_ERR_JOB_RESUME: 'FAILED_PRECONDITION',
  // authentication, authorisation and rate limits
  MP_ERR_AUTH_REQUIRED: 'UNAUTHENTICATED',
  MP_ERR_AUTH_INVALID: 'UNAUTHENTICATED',
  MP_ERR_AUTH_FORBIDDEN: 'PERMISSION_DENIED',
  MP_ERR_RATE_LIMITED: 'RESOURCE_EXHAUSTED',
  // configuration of the server itself
  MP_ERR_CONFIG_INVALID: 'INVALID_ARG',
  // anything not foreseen
  MP_ERR_INTERNAL: 'INTERNAL',
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What a refused request may tell its client about when to come back (rate limits, full queues). */
export interface RetryHint {
  /** Milliseconds until a retry may succeed (HTTP Retry-After, rounded up to seconds). */
  retryAfterMs: number;
  /** The limit that refused it, for the RateLimit / RateLimit-Policy fields. */
  policy?: { name: string; limit: number; windowSecs: number; remaining: number };
}

export class ModelportError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  /** Set on refusals a client should retry later. */
  retry?: RetryHint;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelportError';
    this.code = code;
    this.kind = ERROR_CODES[code];
  }
}

export function mpError(code: ErrorCode, message: string, cause?: unknown): ModelportError {
  return new ModelportError(code, message, cause === undefined ? undefined : { cause });
}

/** Triton's exact text for a model the repository does not have (clients match on it). */
export function unknownModelError(name: string): ModelportError {
  return new ModelportError('MP_ERR_MODEL_UNKNOWN', `Request for unknown model: '${name}' is not found`);
}

export function isModelportError(error: unknown): error is ModelportError {
  return error instanceof ModelportError;
}

/** Wraps anything thrown into a ModelportError, keeping one that already is. */
export function toModelportError(error: unknown, code: ErrorCode = 'MP_ERR_INTERNAL'): ModelportError {
  if (error instanceof ModelportError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ModelportError(code, message, { cause: error });
}
