/**
 * The HTTP server's cap on inference requests in flight (read, queued, running or being answered)
 * across all models. The schedulers refuse what they cannot answer in time, but only once a
 * request's body has been read and decoded; this cap is the guard in front of that, so a flood of
 * requests (or of slow uploads) cannot make the server buffer bodies without bound. A request
 * over the cap is answered 503 with Retry-After before its body is read, and its connection is
 * closed after the answer.
 */
import type { ServerResponse } from 'node:http';
import { mpError, type ModelportError } from '../../core/index.js';

export class InflightLimit {
  readonly max: number;
  #count = 0;
  #refused = 0;

  /** `max` 0 = no cap. */
  constructor(max: number) {
    this.max = max;
  }

  /** Requests in flight now. */
  get count(): number {
    return this.#count;
  }

  /** Requests refused so far for being over the cap. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * Counts the request in until its response closes (answered or the client gone); false when
   * the cap is reached and the request must be refused.
   */
  enter(response: ServerResponse): boolean {
    if (this.max > 0 && this.#count >= this.max) {
      this.#refused++;
      return false;
    }
    this.#count++;
    response.once('close', this.#leave);
    return true;
  }

  readonly #leave = (): void => {
    this.#count--;
  };

  refusal(model: string): ModelportError {
    return mpError(
      'MP_ERR_OVERLOADED',
      `the server already has ${this.max} inference requests in flight, its limit (--max-inflight-requests); ` +
        `the request to model '${model}' was not read. Retry later, or spread the load over more servers`,
    );
  }
}
