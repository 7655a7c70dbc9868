/**
 * Protocol-neutral inference request and response. The REST and gRPC adapters decode into these
 * and encode from them; the data plane validates and routes them. Nothing here knows about
 * HTTP or protobuf.
 */
import type { Tensor } from './tensor.js';

export type ParameterValue = string | number | boolean | bigint;
export type Parameters = Record<string, ParameterValue>;

export interface RequestedOutput {
  name: string;
  parameters?: Parameters;
}

export interface InferenceRequest {
  /** Echoed back in the response when non-empty. */
  id?: string;
  modelName: string;
  /** Version as given by the caller ("" or undefined = the version the router picks). */
  modelVersion?: string;
  inputs: Tensor[];
  /** Outputs to return; all model outputs when absent or empty. */
  outputs?: RequestedOutput[];
  parameters?: Parameters;
}

export interface InferenceTiming {
  /** Time spent waiting in the scheduler queue. */
  queueNs: number;
  /** Assembling the batch and handing it to the instance. */
  computeInputNs: number;
  /** Model execution inside the instance. */
  computeInferNs: number;
  /** Taking outputs back and splitting them per request. */
  computeOutputNs: number;
  /** Size of the batch this request was executed in. */
  batchSize: number;
}

export interface InferenceResponse {
  id?: string;
  modelName: string;
  modelVersion: string;
  outputs: Tensor[];
  parameters?: Parameters;
  timing?: InferenceTiming;
  /** Routing arm that served it ("stable", "canary", "direct"…); sent as the x-modelport-arm header. */
  arm?: string;
}

/**
 * Scheduler priority of offline (batch-job) requests: the dynamic batcher runs lower numbers
 * first and online traffic runs at 0, or at 1…priority_levels when a model configures levels, so
 * the largest safe integer puts offline requests after all of it whatever the configuration.
 * Jobs inside the server set it in their RequestContext; remote ones (`modelport batch --url`)
 * ask for it with the request parameter OFFLINE_PARAMETER.
 */
export const OFFLINE_PRIORITY = Number.MAX_SAFE_INTEGER;

/** Request parameter that marks a request as offline (true): it is then queued at OFFLINE_PRIORITY. */
export const OFFLINE_PARAMETER = 'modelport_offline';

/** What the caller tells the data plane about where a request comes from. */
export interface RequestContext {
  protocol: 'http' | 'grpc' | 'inprocess';
  /** Lower numbers run first; offline jobs use a larger one than online traffic. */
  priority?: number;
  signal?: AbortSignal;
  /** Cheap alternative to `signal`: polled when a queued request is about to run. */
  isCancelled?: () => boolean;
  /** The caller's request id (x-request-id), or one generated for it; carried into logs. */
  requestId?: string;
  /** W3C trace id from the caller's traceparent. */
  traceId?: string;
  /** A request header (HTTP) or metadata entry (gRPC), lower-case name; for routing rules and sticky keys. */
  header?(name: string): string | undefined;
  /** When the caller stops waiting (a gRPC deadline), as Date.now() milliseconds; absent = no limit of its own. */
  deadline?: number;
  /**
   * When the request started to arrive, as performance.now() milliseconds: its timeout runs from
   * then, so the time spent reading and decoding it counts. Absent: from when it reaches the data plane.
   */
  receivedAt?: number;
}
