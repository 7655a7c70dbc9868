/**
 * The RequestContext an HTTP infer hands to the data plane. Its abort signal fires when the client
 * disconnects before the answer is sent, so queued work for a caller who is gone can be dropped.
 * The AbortController and the socket listener are only created when someone reads `signal`: infer
 * is the hot path, and a data plane that wants the signal only for requests that actually wait in
 * a queue should not pay for it on the others.
 */
import type { ServerResponse } from 'node:http';
import type { RequestContext } from '../../core/index.js';

export class HttpRequestContext implements RequestContext {
  readonly protocol = 'http' as const;
  readonly priority: number | undefined;
  readonly #response: ServerResponse;
  #controller: AbortController | undefined;

  constructor(response: ServerResponse, priority: number | undefined) {
    this.#response = response;
    this.priority = priority;
  }

  /** Note: a getter on the prototype, so spreading the context (`{...ctx}`) drops it. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const response = this.#response;
      // 'close' also fires after a normal finish; only a close before the answer is a disconnect.
      const onClose = (): void => {
        // The scheduler answers a request abandoned this way with MP_ERR_REQUEST_CANCELLED.
        if (!response.writableFinished) controller.abort();
      };
      if (response.destroyed || response.socket?.destroyed) onClose();
      else response.once('close', onClose);
    }
    return this.#controller.signal;
  }
}
