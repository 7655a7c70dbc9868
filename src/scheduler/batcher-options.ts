/**
 * Settings of one dynamic batcher, taken from a model version's configuration
 * (dynamic_batching and its default_queue_policy) by the repository.
 */
import type { RuntimeInstance } from '../runtime/index.js';

export interface Clock {
  /** Monotonic time in nanoseconds. */
  now(): bigint;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ExecutionRecord {
  batchSize: number;
  computeInputNs: number;
  computeInferNs: number;
  computeOutputNs: number;
  /** False when the instance failed the whole batch. */
  ok: boolean;
}

export interface BatcherOptions {
  /** Label for errors and logs, e.g. "mlp:1". */
  name: string;
  /** One entry per instance; each runs at most one batch at a time. */
  instances: RuntimeInstance[];
  /** 0 = the model does not batch: each request runs alone and inputs are passed unchanged. */
  maxBatchSize: number;
  preferredBatchSizes?: number[];
  /** 0 = work-conserving: dispatch whatever is queued as soon as an instance is free. */
  maxQueueDelayUs?: number;
  /** 0 = unbounded. A full queue refuses at once with MP_ERR_QUEUE_FULL. */
  maxQueueSize?: number;
  /** 0 = no timeout. */
  defaultTimeoutUs?: number;
  /** When true a request may set a shorter timeout than the default. */
  allowTimeoutOverride?: boolean;
  /**
   * Timeout for requests that get none from their own parameter or the model's policy (the
   * server's --request-deadline-ms), microseconds; 0 = none.
   */
  fallbackTimeoutUs?: number;
  clock?: Clock;
  /** Called once per executed batch (feeds execution_count and batch statistics). */
  onExecution?: (record: ExecutionRecord) => void;
}
