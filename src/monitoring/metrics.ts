/**
 * The Prometheus registry (prom-client) and Modelport's own request metrics. Two kinds live here:
 *
 * - Observed on the request path: latency histograms by model, version, arm and protocol, and the
 *   executed batch-size histogram. prom-client's own histogram hashes and validates the labels on
 *   every observation, which cost ~10% of throughput at 5k requests/s on two cores; these keep
 *   one series object per label set, so an observation is a map lookup and a bucket walk.
 * - Collected at scrape time (`addCollected`): totals kept elsewhere (the statistics behind
 *   Triton's nv_* counters) and current state (queue depth, model states). Reading them only when
 *   Prometheus asks costs the request path nothing, and counters then agree exactly with the
 *   statistics endpoint.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export type CollectedType = 'counter' | 'gauge';

export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

/** What the request path reports; protocol adapters and the data plane call it. */
export interface RequestMetricsSink {
  /** `outcome` is "ok" or the error code of a failed request. */
  observeRequest(model: string, version: string, arm: string, protocol: string, outcome: string, seconds: number): void;
  /** One model execution: its batch size and how long the instance was busy with it. */
  observeBatch(model: string, version: string, size: number, busySeconds: number): void;
}

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** Counts per bucket, sum and count of one label set; rendered cumulatively at scrape time. */
class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    bucketCount: number,
  ) {
    this.counts = new Float64Array(bucketCount + 1);
  }
}

/** A Prometheus histogram whose series are found by a caller-built key. */
class FastHistogram {
  readonly #series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(key: string, labels: () => Record<string, string>, value: number): void {
    let series = this.#series.get(key);
    if (series === undefined) {
      series = new HistogramSeries(labels(), this.buckets.length);
      this.#series.set(key, series);
    }
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    series.counts[i]! += 1;
    series.sum += value;
    series.count += 1;
  }

  /** The samples prom-client renders: cumulative buckets with `le`, then _sum and _count. */
  values(): Array<{ metricName: string; labels: Record<string, string>; value: number }> {
    const values: Array<{ metricName: string; labels: Record<string, string>; value: number }> = [];
    for (const series of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += series.counts[i]!;
        const le = i < this.buckets.length ? String(this.buckets[i]) : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { ...series.labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    }
    return values;
  }
}

export class Metrics implements RequestMetricsSink {
  readonly registry = new Registry();
  readonly #latency = new FastHistogram(
    'modelport_request_duration_seconds',
    'Inference request latency inside the server, from validation to the answer, in seconds',
    LATENCY_BUCKETS_S,
  );
  readonly #batch = new FastHistogram('modelport_batch_size', 'Items per model execution (dynamic batching)', BATCH_BUCKETS);
  /** Busy seconds per version; rate() over instances is the worker busy ratio. */
  readonly #busy = new Map<string, { labels: Record<string, string>; value: number }>();

  constructor(options: { processMetrics?: boolean } = {}) {
    for (const histogram of [this.#latency, this.#batch]) {
      this.registry.registerMetric({
        name: histogram.name,
        help: histogram.help,
        type: 'histogram',
        get: () => ({ name: histogram.name, help: histogram.help, type: 'histogram', values: histogram.values(), aggregator: 'sum' }),
        reset: () => {},
      } as unknown as Parameters<Registry['registerMetric']>[0]);
    }
    this.addCollected(
      'modelport_instance_busy_seconds_total',
      'Seconds instances spent executing batches; divided by modelport_instances, its rate is the busy ratio',
      'counter',
      () => [...this.#busy.values()],
    );
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  observeRequest(model: string, version: string, arm: string, protocol: string, outcome: string, seconds: number): void {
    this.#latency.observe(`${model}\u0000${version}\u0000${arm}\u0000${protocol}\u0000${outcome}`, () => ({ model, version, arm, protocol, outcome }), seconds);
  }

  observeBatch(model: string, version: string, size: number, busySeconds: number): void {
    const key = `${model}\u0000${version}`;
    this.#batch.observe(key, () => ({ model, version }), size);
    let busy = this.#busy.get(key);
    if (busy === undefined) {
      busy = { labels: { model, version }, value: 0 };
      this.#busy.set(key, busy);
    }
    busy.value += busySeconds;
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
