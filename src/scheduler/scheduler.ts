/**
 * The seam between the data plane and execution for one model version: a queue in front of a set
 * of runtime instances. The dynamic batcher is the implementation; a non-batching model uses it
 * with batching off.
 */
import type { InferenceTiming, Tensor } from '../core/index.js';

export interface ScheduledRequest {
  /** Validated inputs, in the model's input order. With batching on, dim 0 is the batch dim. */
  inputs: Tensor[];
  /** Output names to return, in the order the response lists them. */
  outputNames: string[];
  /** Number of batch items this request carries (dim 0), 1 when the model does not batch. */
  batchSize: number;
  /** Requested timeout in microseconds (0/undefined = the queue policy's default). */
  timeoutUs?: number;
  /**
   * How long the caller still waits for the answer, in microseconds from now (a gRPC deadline);
   * 0/undefined = no limit of its own. It applies whatever the queue policy says: an answer after
   * it reaches nobody.
   */
  deadlineUs?: number;
  /** Time the request already spent in the server before reaching the scheduler, µs: it counts against its timeout. */
  waitedUs?: number;
  /** Lower runs first; 0 is online traffic. */
  priority?: number;
  signal?: AbortSignal;
  /**
   * Polled when the request leaves the queue: true drops it with MP_ERR_REQUEST_CANCELLED. A
   * cheaper alternative to `signal` for callers with many requests (no listener per request).
   */
  isCancelled?: () => boolean;
}

export interface ScheduledResult {
  outputs: Tensor[];
  timing: InferenceTiming;
}

export interface SchedulerStats {
  /** Requests waiting for an instance. */
  queued: number;
  /** Batches executing now. */
  executing: number;
}

export interface Scheduler {
  enqueue(request: ScheduledRequest): Promise<ScheduledResult>;
  stats(): SchedulerStats;
  /** Stops taking requests (they are refused with MP_ERR_SERVER_STOPPING), waits for queued and running work to finish. */
  drain(): Promise<void>;
}
