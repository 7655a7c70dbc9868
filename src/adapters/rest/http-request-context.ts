/**
 * The RequestContext an HTTP infer hands to the data plane. A client that disconnects before its
 * answer is sent has cancelled: `isCancelled` polls the response's socket when a queued request is
 * about to run (no allocation or listener per request, which matters at tens of thousands of
 * requests per second), and `signal` offers the same as an AbortSignal, built only if read. The
 * time the request started to arrive goes along, so its timeout counts the time spent reading it.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { requestIdentity, type RequestContext } from '../../core/index.js';

export class HttpRequestContext implements RequestContext {
  readonly protocol = 'http' as const;
  readonly requestId: string;
  readonly traceId?: string;
  readonly receivedAt?: number;
  readonly #response: ServerResponse;
  readonly #headers: IncomingHttpHeaders;
  #controller: AbortController | undefined;
  /** Bound once so the scheduler can call it detached from the object. */
  readonly isCancelled: () => boolean;

  /** Takes the request id from x-request-id (or makes one) and echoes it on the response. */
  constructor(response: ServerResponse, headers: IncomingHttpHeaders, receivedAt?: number) {
    this.#response = response;
    if (receivedAt !== undefined) this.receivedAt = receivedAt;
    this.#headers = headers;
    const identity = requestIdentity(headers['x-request-id'] as string | undefined, headers.traceparent as string | undefined);
    this.requestId = identity.requestId;
    if (identity.traceId) this.traceId = identity.traceId;
    response.setHeader('x-request-id', identity.requestId);
    this.isCancelled = () => isGone(response);
  }

  header(name: string): string | undefined {
    const value = this.#headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  /** Note: a getter on the prototype, so spreading the context (`{...ctx}`) drops it. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const response = this.#response;
      // 'close' also fires after a normal finish; only a close before the answer is a disconnect.
      const onClose = (): void => {
        if (!response.writableFinished) controller.abort();
      };
      if (isGone(response)) onClose();
      else response.once('close', onClose);
    }
    return this.#controller.signal;
  }
}

function isGone(response: ServerResponse): boolean {
  return !response.writableFinished && (response.destroyed || response.socket === null || response.socket.destroyed);
}
