/**
 * Request identity for logs and tracing: the caller's `x-request-id` when it is a sane token,
 * else a fresh UUID; and the trace id of a W3C `traceparent` header, when one is sent. Both
 * protocol adapters use it, so a request is named the same way whichever way it came.
 */
import { randomUUID } from 'node:crypto';

export interface RequestIdentity {
  requestId: string;
  traceId?: string;
}

/** Printable, no spaces, at most 128 characters: anything else is not echoed into logs or headers. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** version-traceid-parentid-flags; an all-zero trace id is invalid. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function requestIdentity(requestId: string | undefined, traceparent: string | undefined): RequestIdentity {
  const identity: RequestIdentity = { requestId: requestId !== undefined && REQUEST_ID.test(requestId) ? requestId : randomUUID() };
  const trace = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (trace && !/^0+$/.test(trace[1]!)) identity.traceId = trace[1]!;
  return identity;
}
