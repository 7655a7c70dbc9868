/**
 * Cumulative per-version statistics in the shape of Triton's statistics extension. Requests
 * record success/failure and their queue/compute split; the scheduler reports each executed
 * batch, which gives execution_count and the per-batch-size table. perf_analyzer reads these
 * numbers, so every field is an integer and queue.count moves once per successful request.
 */
import type { InferenceTiming } from '../core/index.js';
import type { BatchStat, DurationStat, ModelVersionStatistics } from './types.js';

interface BatchRecord {
  batchSize: number;
  computeInputNs: number;
  computeInferNs: number;
  computeOutputNs: number;
  ok: boolean;
}

const zero = (): DurationStat => ({ count: 0, ns: 0 });

function add(stat: DurationStat, ns: number): void {
  stat.count += 1;
  stat.ns += Math.round(ns);
}

/** Triton's nv_inference_request_failure reasons. */
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';
export const FAILURE_REASONS: readonly FailureReason[] = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

export class StatisticsRecorder {
  readonly #versions = new Map<string, ModelVersionStatistics>();
  readonly #failures = new Map<string, Record<FailureReason, number>>();
  readonly #batches = new Map<string, Map<number, BatchStat>>();

  #entry(model: string, version: number): ModelVersionStatistics {
    const key = `${model}\u0000${version}`;
    let entry = this.#versions.get(key);
    if (!entry) {
      entry = {
        name: model,
        version: String(version),
        last_inference: 0,
        inference_count: 0,
        execution_count: 0,
        inference_stats: {
          success: zero(), fail: zero(), queue: zero(), compute_input: zero(),
          compute_infer: zero(), compute_output: zero(), cache_hit: zero(), cache_miss: zero(),
        },
        response_stats: {},
        batch_stats: [],
        memory_usage: [],
      };
      this.#versions.set(key, entry);
      this.#batches.set(key, new Map());
    }
    return entry;
  }

  recordSuccess(model: string, version: number, requestNs: number, batchItems: number, timing: InferenceTiming): void {
    const entry = this.#entry(model, version);
    const stats = entry.inference_stats;
    add(stats.success, requestNs);
    add(stats.queue, timing.queueNs);
    add(stats.compute_input, timing.computeInputNs);
    add(stats.compute_infer, timing.computeInferNs);
    add(stats.compute_output, timing.computeOutputNs);
    entry.inference_count += batchItems;
    entry.last_inference = Date.now();
  }

  recordFailure(model: string, version: number, requestNs: number, reason: FailureReason = 'OTHER'): void {
    const entry = this.#entry(model, version);
    add(entry.inference_stats.fail, requestNs);
    entry.last_inference = Date.now();
    const key = `${model}\u0000${version}`;
    let counts = this.#failures.get(key);
    if (!counts) {
      counts = { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 0 };
      this.#failures.set(key, counts);
    }
    counts[reason] += 1;
  }

  /** Failed requests by reason; every reason present, zero when none failed that way. */
  failureReasons(model: string, version: number): Record<FailureReason, number> {
    return { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 0, ...this.#failures.get(`${model}\u0000${version}`) };
  }

  recordExecution(model: string, version: number, record: BatchRecord): void {
    const entry = this.#entry(model, version);
    if (!record.ok) return;
    entry.execution_count += 1;
    const table = this.#batches.get(`${model}\u0000${version}`)!;
    let row = table.get(record.batchSize);
    if (!row) {
      row = { batch_size: record.batchSize, compute_input: zero(), compute_infer: zero(), compute_output: zero() };
      table.set(record.batchSize, row);
    }
    add(row.compute_input, record.computeInputNs);
    add(row.compute_infer, record.computeInferNs);
    add(row.compute_output, record.computeOutputNs);
  }

  /** A snapshot (copied, so callers may serialise it later) for one version, zeroed if never used. */
  snapshot(model: string, version: number): ModelVersionStatistics {
    const entry = this.#entry(model, version);
    const table = this.#batches.get(`${model}\u0000${version}`)!;
    const copy = structuredClone(entry);
    copy.batch_stats = [...table.values()].sort((a, b) => a.batch_size - b.batch_size).map((row) => structuredClone(row));
    return copy;
  }
}
