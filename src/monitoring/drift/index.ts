/**
 * Drift detection: reference profiles of a version's inputs and outputs, window tests against
 * them, the live monitor over served requests and the alerts and retraining hook it feeds.
 */
export { chiSquared, jensenShannonDistance, ksTwoSample, populationStabilityIndex } from './statistics.js';
export { buildProfile, profileFeature, type FeatureProfile, type ProfileOptions, type ReferenceProfile } from './reference-profile.js';
export { DEFAULT_THRESHOLDS, detectDrift, type DriftReport, type DriftThresholds, type FeatureDrift } from './drift-detector.js';
export { evaluateWindow, evaluateWindowNow, type WindowData } from './window-evaluation.js';
export { copyRows, featureNames, isProfiledDatatype, layoutFits, layoutRows, resolveLayout, tensorFeatureRows, tensorRowShape, type FeatureLayout } from './tensor-features.js';
export {
  LiveDriftMonitor,
  readReferenceProfile,
  readReferenceProfileSync,
  validateProfile,
  type CollectedMetricsSink,
  type DriftCapture,
  type DriftMetricFamily,
  type DriftModelStatus,
  type DriftPhase,
  type DriftReference,
  type DriftVersionStatus,
  type LiveDriftMonitorOptions,
  type LiveDriftReport,
} from './live-drift-monitor.js';
export { DriftAlerts, type AlertAction, type DriftAlertOptions, type DriftAlertOutcome } from './drift-alerts.js';
