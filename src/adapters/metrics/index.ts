/** The Prometheus adapter: Triton's nv_* metrics from the data plane, served on the metrics port. */
export { createMetricsServer, type MetricsServer } from './metrics-server.js';
export { registerTritonMetrics } from './triton-metrics.js';
