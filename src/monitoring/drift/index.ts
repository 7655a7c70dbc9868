/** Drift detection: reference profiles of a version's inputs and outputs, and window tests against them. */
export { buildProfile, profileFeature, type FeatureProfile, type ProfileOptions, type ReferenceProfile } from './reference-profile.js';
export { DEFAULT_THRESHOLDS, detectDrift, type DriftReport, type DriftThresholds, type FeatureDrift } from './drift-detector.js';
