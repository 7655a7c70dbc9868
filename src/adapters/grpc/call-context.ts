/**
 * The RequestContext of one gRPC call. grpc-js marks a call cancelled when the client cancels it,
 * its deadline passes or the connection drops; the scheduler polls that before running a request.
 * The call's deadline goes to the scheduler too, which refuses at once what it cannot answer by then.
 * The request id comes from the call's `x-request-id` metadata (or is made) and is sent back in
 * the response's initial metadata.
 */
import { Metadata, type Deadline } from '@grpc/grpc-js';
import { requestIdentity, type RequestContext } from '../../core/index.js';

interface Call {
  cancelled: boolean;
  metadata: Metadata;
  getDeadline?(): Deadline;
}

function first(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

/** The context of a unary call; also answers with the request id in the initial metadata. */
export function callContext(call: Call & { sendMetadata(metadata: Metadata): void }): RequestContext {
  const context = streamContext(call, undefined);
  const metadata = new Metadata();
  metadata.set('x-request-id', context.requestId!);
  call.sendMetadata(metadata);
  return context;
}

/** The context of one request on a stream: its own `id`, else the stream's x-request-id. */
export function streamContext(call: Call, id: string | undefined): RequestContext {
  const identity = requestIdentity(id || first(call.metadata, 'x-request-id'), first(call.metadata, 'traceparent'));
  const context: RequestContext = { protocol: 'grpc', isCancelled: () => call.cancelled, header: (name) => first(call.metadata, name), ...identity };
  const deadline = deadlineMs(call.getDeadline?.());
  if (deadline !== undefined) context.deadline = deadline;
  return context;
}

/** A grpc-js deadline (a Date, or milliseconds; Infinity when the client set none) as Date.now() time. */
function deadlineMs(deadline: Deadline | undefined): number | undefined {
  if (deadline === undefined) return undefined;
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}
