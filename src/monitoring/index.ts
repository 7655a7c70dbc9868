/** Logging and metrics shared by every layer. */
export { createLogger, type LoggerOptions } from './logger.js';
export { Metrics, type CollectedType, type MetricSample, type RequestMetricsSink } from './metrics.js';
export {
  PayloadLogger,
  RotatingFileSink,
  WebhookSink,
  type CloudEvent,
  type PayloadEvent,
  type PayloadLoggerOptions,
  type PayloadSink,
  type RequestRecord,
  type SinkCounts,
  toCloudEvent,
} from './payload-log/index.js';
export {
  buildProfile,
  DEFAULT_THRESHOLDS,
  detectDrift,
  DriftAlerts,
  jensenShannonDistance,
  LiveDriftMonitor,
  readReferenceProfile,
  readReferenceProfileSync,
  tensorFeatureRows,
  type DriftAlertOptions,
  type DriftCapture,
  type DriftModelStatus,
  type DriftReference,
  type DriftReport,
  type DriftThresholds,
  type DriftVersionStatus,
  type FeatureDrift,
  type LiveDriftMonitorOptions,
  type LiveDriftReport,
  type ReferenceProfile,
} from './drift/index.js';
