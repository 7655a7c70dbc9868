/**
 * The Prometheus registry (prom-client) and Modelport's own request metrics. Two kinds live here:
 *
 * - Observed on the request path: latency histograms by model, version, arm and protocol, and the
 *   executed batch-size histogram. Label children are cached per label set so an observation is
 *   a map lookup and a bucket walk, not a label hash per call.
 * - Collected at scrape time (`addCollected`): totals kept elsewhere (the statistics behind
 *   Triton's nv_* counters) and current state (queue depth, model states). Reading them only when
 *   Prometheus asks costs the request path nothing, and counters then agree exactly with the
 *   statistics endpoint.
 */
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export type CollectedType = 'counter' | 'gauge';

export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

/** What the request path reports; protocol adapters and the data plane call it. */
export interface RequestMetricsSink {
  /** `outcome` is "ok" or the error code of a failed request. */
  observeRequest(model: string, version: string, arm: string, protocol: string, outcome: string, seconds: number): void;
  observeBatch(model: string, version: string, size: number): void;
}

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

type Observer = { observe(value: number): void };

export class Metrics implements RequestMetricsSink {
  readonly registry = new Registry();
  readonly #latency: Histogram<'model' | 'version' | 'arm' | 'protocol' | 'outcome'>;
  readonly #batch: Histogram<'model' | 'version'>;
  readonly #children = new Map<string, Observer>();

  constructor(options: { processMetrics?: boolean } = {}) {
    this.#latency = new Histogram({
      name: 'modelport_request_duration_seconds',
      help: 'Inference request latency inside the server, from validation to the answer, in seconds',
      labelNames: ['model', 'version', 'arm', 'protocol', 'outcome'],
      buckets: LATENCY_BUCKETS_S,
      registers: [this.registry],
    });
    this.#batch = new Histogram({
      name: 'modelport_batch_size',
      help: 'Items per model execution (dynamic batching)',
      labelNames: ['model', 'version'],
      buckets: BATCH_BUCKETS,
      registers: [this.registry],
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  observeRequest(model: string, version: string, arm: string, protocol: string, outcome: string, seconds: number): void {
    const key = `r\u0000${model}\u0000${version}\u0000${arm}\u0000${protocol}\u0000${outcome}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      child = this.#latency.labels(model, version, arm, protocol, outcome);
      this.#children.set(key, child);
    }
    child.observe(seconds);
  }

  observeBatch(model: string, version: string, size: number): void {
    const key = `b\u0000${model}\u0000${version}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      child = this.#batch.labels(model, version);
      this.#children.set(key, child);
    }
    child.observe(size);
  }

  /** A metric whose samples `read` returns at each scrape. */
  addCollected(name: string, help: string, type: CollectedType, read: () => MetricSample[]): void {
    this.registry.registerMetric({
      name,
      help,
      type,
      get: () => ({ name, help, type, values: read(), aggregator: 'sum' }),
      reset: () => {},
    } as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  exposition(): Promise<string> {
    return this.registry.metrics();
  }
}
