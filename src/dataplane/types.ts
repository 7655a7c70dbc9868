/**
 * Shapes the data plane answers with. They follow the V2 protocol's JSON bodies (and Triton's
 * extensions) closely, so adapters can pass most of them through with little translation.
 */
import type { Datatype, ModelState } from '../core/index.js';
import type { RequestRecord } from '../monitoring/index.js';

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  /** Includes a leading -1 for models that batch. */
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export interface RepositoryIndexEntry {
  name: string;
  version?: string;
  state: ModelState;
  reason?: string;
}

export interface DurationStat {
  count: number;
  ns: number;
}

export interface BatchStat {
  batch_size: number;
  compute_input: DurationStat;
  compute_infer: DurationStat;
  compute_output: DurationStat;
}

/** One entry of Triton's statistics extension; integers only, as perf_analyzer requires. */
export interface ModelVersionStatistics {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: {
    success: DurationStat;
    fail: DurationStat;
    queue: DurationStat;
    compute_input: DurationStat;
    compute_infer: DurationStat;
    compute_output: DurationStat;
    cache_hit: DurationStat;
    cache_miss: DurationStat;
  };
  response_stats: Record<string, never>;
  batch_stats: BatchStat[];
  memory_usage: never[];
}

/** Failed requests of one READY version for one of Triton's failure reasons. */
export interface FailureCount {
  model: string;
  version: string;
  reason: 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';
  count: number;
}

/** One READY version as the metrics see it: queue depth now, instance count, last load time. */
export interface ServingVersion {
  model: string;
  version: string;
  queued: number;
  instances: number;
  loadSeconds: number;
}

/** One line of the request log: what was asked, of which version, and how it went. */
export type RequestLogEntry = RequestRecord;

export interface LoadModelOptions {
  /** A full model configuration (JSON text) that replaces the one on disk. */
  config?: string;
}

/**
 * What every adapter calls. One protocol-neutral entry per operation; errors are thrown as
 * ModelportError with a catalogue code, which each adapter maps to its own status codes.
 */
export interface DataPlaneApi {
  /**
   * How large one inference request may be. The adapters apply these while decoding, before they
   * allocate tensors; absent (test stand-ins), they use DEFAULT_REQUEST_LIMITS.
   */
  readonly limits?: import('../core/index.js').RequestLimits;
  /** The process can serve requests. */
  isLive(): boolean;
  /** Every model that should be loaded is READY (Triton's strict readiness). */
  isReady(): boolean;
  serverMetadata(): ServerMetadata;
  /** Throws MP_ERR_MODEL_UNKNOWN / MP_ERR_MODEL_VERSION_UNKNOWN / MP_ERR_MODEL_VERSION_INVALID. */
  modelMetadata(name: string, version?: string): ModelMetadata;
  /** False when the model exists but the version is not READY; throws for an unknown model. */
  isModelReady(name: string, version?: string): boolean;
  /** Normalised Triton JSON model configuration (without a version: the highest version's). */
  modelConfig(name: string, version?: string): import('../core/index.js').ModelConfig;
  /** All models (no name), all versions of one model, or one version. */
  modelStatistics(name?: string, version?: string): { model_stats: ModelVersionStatistics[] };
  repositoryIndex(readyOnly: boolean): RepositoryIndexEntry[];
  /** Failures per READY version and reason (Triton's nv_inference_request_failure). */
  failureCounts(): FailureCount[];
  /** Per READY version: queue depth (Triton's nv_inference_pending_request_count), instances, load time. */
  servingVersions(): ServingVersion[];
  loadModel(name: string, options?: LoadModelOptions): Promise<void>;
  unloadModel(name: string): Promise<void>;
  infer(
    request: import('../core/index.js').InferenceRequest,
    context: import('../core/index.js').RequestContext,
  ): Promise<import('../core/index.js').InferenceResponse>;
}
