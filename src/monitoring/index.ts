/** Logging and metrics shared by every layer. */
export { createLogger, type LoggerOptions } from './logger.js';
export { Metrics, type CollectedType, type MetricSample, type RequestMetricsSink } from './metrics.js';
