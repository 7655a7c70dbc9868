/**
 * Triton's per-model metrics (names, help texts and labels as Triton's metrics.cc has them, so
 * existing Triton dashboards work), read from the data plane's statistics at each scrape: the
 * same numbers the statistics endpoint reports, hence exactly the requests served. Plus
 * Modelport's gauges of current state: queue depth and model states.
 */
import type { Metrics, MetricSample } from '../../monitoring/index.js';
import type { DataPlaneApi, ModelVersionStatistics } from '../../dataplane/index.js';

type StatisticsField = (s: ModelVersionStatistics) => number;

const US = 1000;

/** Counters derived from one statistics entry per model version. */
const COUNTERS: Array<[name: string, help: string, read: StatisticsField]> = [
  ['nv_inference_request_success', 'Number of successful inference requests, all batch sizes', (s) => s.inference_stats.success.count],
  ['nv_inference_count', 'Number of inferences performed (does not include cached requests)', (s) => s.inference_count],
  ['nv_inference_exec_count', 'Number of model executions performed (does not include cached requests)', (s) => s.execution_count],
  [
    'nv_inference_request_duration_us',
    'Cumulative inference request duration in microseconds (includes cached requests)',
    (s) => Math.round(s.inference_stats.success.ns / US),
  ],
  [
    'nv_inference_queue_duration_us',
    'Cumulative inference queuing duration in microseconds (includes cached requests)',
    (s) => Math.round(s.inference_stats.queue.ns / US),
  ],
  [
    'nv_inference_compute_input_duration_us',
    'Cumulative compute input duration in microseconds (does not include cached requests)',
    (s) => Math.round(s.inference_stats.compute_input.ns / US),
  ],
  [
    'nv_inference_compute_infer_duration_us',
    'Cumulative compute inference duration in microseconds (does not include cached requests)',
    (s) => Math.round(s.inference_stats.compute_infer.ns / US),
  ],
  [
    'nv_inference_compute_output_duration_us',
    'Cumulative inference compute output duration in microseconds (does not include cached requests)',
    (s) => Math.round(s.inference_stats.compute_output.ns / US),
  ],
];

export function registerTritonMetrics(metrics: Metrics, dataPlane: DataPlaneApi): void {
  // One statistics read serves every nv_* counter of a scrape: Prometheus reads the metrics in
  // turn within a few milliseconds, and each read would otherwise walk every model.
  let cached: { at: number; stats: ModelVersionStatistics[] } | undefined;
  const statistics = (): ModelVersionStatistics[] => {
    const now = Date.now();
    if (!cached || now - cached.at > 50) cached = { at: now, stats: dataPlane.modelStatistics().model_stats };
    return cached.stats;
  };
  for (const [name, help, read] of COUNTERS) {
    metrics.addCollected(name, help, 'counter', () =>
      statistics().map((s): MetricSample => ({ labels: { model: s.name, version: s.version }, value: read(s) })),
    );
  }
  metrics.addCollected('nv_inference_request_failure', 'Number of failed inference requests, all batch sizes', 'counter', () =>
    dataPlane.failureCounts().map((f) => ({ labels: { model: f.model, version: f.version, reason: f.reason }, value: f.count })),
  );
  metrics.addCollected(
    'nv_inference_pending_request_count',
    'Instantaneous number of pending requests awaiting execution per-model.',
    'gauge',
    () => dataPlane.servingVersions().map((q) => ({ labels: { model: q.model, version: q.version }, value: q.queued })),
  );
  metrics.addCollected('nv_model_load_duration_secs', 'Model load time in seconds', 'gauge', () =>
    dataPlane.servingVersions().map((q) => ({ labels: { model: q.model, version: q.version }, value: q.loadSeconds })),
  );
  metrics.addCollected('modelport_instances', 'Instances (worker threads with a session each) serving the version', 'gauge', () =>
    dataPlane.servingVersions().map((q) => ({ labels: { model: q.model, version: q.version }, value: q.instances })),
  );
  metrics.addCollected('modelport_model_state', 'Model version lifecycle state: 1 for the state the version is in', 'gauge', () =>
    dataPlane
      .repositoryIndex(false)
      .map((e) => ({ labels: { model: e.name, version: e.version ?? '', state: e.state }, value: 1 })),
  );
}
