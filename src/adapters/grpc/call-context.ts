/**
 * The RequestContext of one gRPC call. grpc-js marks a call cancelled when the client cancels it,
 * its deadline passes or the connection drops; the scheduler polls that before running a request.
 */
import type { RequestContext } from '../../core/index.js';

export function callContext(call: { cancelled: boolean }): RequestContext {
  return { protocol: 'grpc', isCancelled: () => call.cancelled };
}
