/**
 * ModelStreamInfer: one bidirectional stream carries many requests, for any models, each
 * answered as soon as it completes (responses carry the request id to match them). A failed
 * request is answered with `error_message` on the stream, which stays open, as Triton does. The
 * stream ends after the client half-closes and every request on it is answered. On shutdown a
 * stream keeps serving what arrives and ends once it has been quiet (nothing pending, nothing
 * new) for DRAIN_QUIET_MS: requests a client sent just before the signal may still be on the wire.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { DEFAULT_REQUEST_LIMITS, type RequestLimits } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import { streamContext } from './call-context.js';
import { grpcFailure } from './grpc-status.js';
import { decodeModelInferRequest, encodeModelInferResponse } from './infer-codec.js';
import { readInferRequest } from './infer-request-wire.js';
import type { EncodedInferRequest } from './proto-definitions.js';
import type { ModelInferRequestMessage, ModelStreamInferResponseMessage } from './proto-types.js';

type StreamCall = ServerDuplexStream<EncodedInferRequest, ModelStreamInferResponseMessage>;

/** Admits one request of a stream (credentials, role, model, rate limits); throws or rejects when refused. */
export type StreamAdmission = (call: StreamCall, model: string) => unknown;

const DRAIN_QUIET_MS = 500;

class StreamSession {
  #pending = 0;
  /** The client half-closed: end as soon as nothing is pending. */
  #ending = false;
  /** The server is stopping: end once quiet. */
  #draining = false;
  #quietTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly call: StreamCall,
    readonly dataPlane: DataPlaneApi,
    readonly onDone: (session: StreamSession) => void,
    readonly admit: StreamAdmission | undefined,
  ) {
    call.on('data', (message: EncodedInferRequest) => this.#receive(message));
    call.on('end', () => {
      this.#ending = true;
      this.#maybeFinish();
    });
    call.on('cancelled', () => this.#done());
    call.on('error', () => this.#done());
  }

  /** Shutdown: end the stream once nothing is pending and nothing new has come for a while. */
  drain(): void {
    this.#draining = true;
    this.#maybeFinish();
  }

  #receive(encoded: EncodedInferRequest): void {
    clearTimeout(this.#quietTimer);
    const limits = this.dataPlane.limits ?? DEFAULT_REQUEST_LIMITS;
    let message: ModelInferRequestMessage;
    try {
      message = readInferRequest(encoded, limits);
    } catch (error) {
      // Too large or not protobuf: answered on the stream, which stays open.
      this.#write({ error_message: grpcFailure(error).details });
      this.#maybeFinish();
      return;
    }
    this.#pending += 1;
    let admitted: unknown;
    try {
      admitted = this.admit?.(this.call, message.model_name);
    } catch (error) {
      this.#fail(error, message.id);
      return;
    }
    if (admitted instanceof Promise) {
      admitted.then(
        () => this.#infer(message, limits),
        (error: unknown) => this.#fail(error, message.id),
      );
    } else {
      this.#infer(message, limits);
    }
  }

  #infer(message: ModelInferRequestMessage, limits: RequestLimits): void {
    let result;
    try {
      result = this.dataPlane.infer(decodeModelInferRequest(message, limits), streamContext(this.call, message.id));
    } catch (error) {
      this.#fail(error, message.id);
      return;
    }
    result.then(
      (response) => {
        this.#pending -= 1;
        this.#write({ infer_response: encodeModelInferResponse(response) });
        this.#maybeFinish();
      },
      (error: unknown) => this.#fail(error, message.id),
    );
  }

  #fail(error: unknown, id: string): void {
    this.#pending -= 1;
    const details = grpcFailure(error).details;
    // The request id lets a client with several requests in flight tell which one failed.
    this.#write({ error_message: details, ...(id ? { infer_response: { id, model_name: '', model_version: '', outputs: [], raw_output_contents: [] } } : {}) });
    this.#maybeFinish();
  }

  #write(message: ModelStreamInferResponseMessage): void {
    if (!this.call.cancelled && !this.call.writableEnded) this.call.write(message);
  }

  #maybeFinish(): void {
    if (this.#pending > 0) return;
    if (this.#ending) this.#finish();
    else if (this.#draining) {
      clearTimeout(this.#quietTimer);
      this.#quietTimer = setTimeout(() => this.#finish(), DRAIN_QUIET_MS);
    }
  }

  #finish(): void {
    if (!this.call.writableEnded) this.call.end();
    this.#done();
  }

  #done(): void {
    clearTimeout(this.#quietTimer);
    this.onDone(this);
  }
}

export class StreamSessions {
  readonly #sessions = new Set<StreamSession>();
  readonly #dataPlane: DataPlaneApi;
  readonly #admit: StreamAdmission | undefined;

  constructor(dataPlane: DataPlaneApi, admit?: StreamAdmission) {
    this.#dataPlane = dataPlane;
    this.#admit = admit;
  }

  readonly handler = (call: StreamCall): void => {
    this.#sessions.add(new StreamSession(call, this.#dataPlane, (session) => this.#sessions.delete(session), this.#admit));
  };

  /** Shutdown: every open stream ends once its requests are answered and it has gone quiet. */
  drainAll(): void {
    for (const session of this.#sessions) session.drain();
  }
}
