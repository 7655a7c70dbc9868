/**
 * grpc.health.v1.Health, for Kubernetes gRPC probes and grpc-health-probe. Service names:
 * "" is SERVING while the process is live (Triton's answer), "inference.GRPCInferenceService"
 * while the server is ready, and a model's name while that model is ready; any other name is
 * NOT_FOUND, as the health protocol specifies. Watch sends the status, then every change.
 */
import { status as Status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { isModelportError } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import { serviceError } from './grpc-status.js';
import { INFERENCE_SERVICE, MalformedMessage } from './proto-definitions.js';

type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

interface HealthRequest {
  service: string;
}

const WATCH_INTERVAL_MS = 1000;

export class HealthService {
  readonly #dataPlane: DataPlaneApi;
  /** Open Watch streams and the check that sends each one its changes. */
  readonly #watchers = new Map<ServerWritableStream<unknown, unknown>, () => void>();
  #timer: NodeJS.Timeout | undefined;

  constructor(dataPlane: DataPlaneApi) {
    this.#dataPlane = dataPlane;
  }

  status(service: string): ServingStatus {
    if (service === '') return this.#dataPlane.isLive() ? 'SERVING' : 'NOT_SERVING';
    if (service === INFERENCE_SERVICE) return this.#dataPlane.isReady() ? 'SERVING' : 'NOT_SERVING';
    try {
      return this.#dataPlane.isModelReady(service) ? 'SERVING' : 'NOT_SERVING';
    } catch (error) {
      if (isModelportError(error)) return 'SERVICE_UNKNOWN';
      throw error;
    }
  }

  implementation(): UntypedServiceImplementation {
    return {
      Check: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const request = call.request as HealthRequest | MalformedMessage;
        if (request instanceof MalformedMessage) return callback(serviceError(request));
        const status = this.status(request.service);
        if (status === 'SERVICE_UNKNOWN') {
          return callback({ code: Status.NOT_FOUND, details: `unknown service '${request.service}': expected "", '${INFERENCE_SERVICE}' or a model name` });
        }
        callback(null, { status });
      },
      Watch: (call: ServerWritableStream<unknown, unknown>) => this.#watch(call),
    };
  }

  /** Ends every Watch stream (shutdown). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const call of this.#watchers.keys()) call.end();
    this.#watchers.clear();
  }

  #watch(call: ServerWritableStream<unknown, unknown>): void {
    const request = call.request as HealthRequest | MalformedMessage;
    if (request instanceof MalformedMessage) {
      call.emit('error', serviceError(request));
      return;
    }
    let last = this.status(request.service);
    call.write({ status: last });
    const check = (): void => {
      const now = this.status(request.service);
      if (now !== last) {
        last = now;
        call.write({ status: now });
      }
    };
    this.#watchers.set(call, check);
    call.on('cancelled', () => this.#unwatch(call));
    this.#timer ??= setInterval(() => {
      for (const watcherCheck of this.#watchers.values()) watcherCheck();
    }, WATCH_INTERVAL_MS).unref();
  }

  #unwatch(call: ServerWritableStream<unknown, unknown>): void {
    this.#watchers.delete(call);
    if (this.#watchers.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
