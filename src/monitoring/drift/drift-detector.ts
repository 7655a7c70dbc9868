/**
 * Compares one window of live rows with a reference profile. Tests are chosen by feature type,
 * as Evidently does: numeric inputs by two-sample Kolmogorov–Smirnov against the reference
 * sample, with a Bonferroni correction across features (drift when p < α / features), their PSI
 * over the frozen decile bins reported alongside (0.1 warn, 0.25 alert); categorical inputs by
 * chi-squared against the reference frequencies (same correction); outputs by Jensen–Shannon
 * distance over the reference bins or categories (drift above 0.1). The dataset drifts when the
 * share of drifted input features reaches `datasetShare`.
 */
import { binShares, column, type FeatureProfile, type ReferenceProfile } from './reference-profile.js';
import { chiSquared, jensenShannonDistance, ksTwoSample, populationStabilityIndex } from './statistics.js';

export interface DriftThresholds {
  /** Family-wise significance for KS and chi-squared (default 0.05). */
  alpha: number;
  psiWarn: number;
  psiAlert: number;
  /** Jensen–Shannon distance above which an output drifts (default 0.1). */
  jsDistance: number;
  /** Share of drifted input features that makes the dataset drift (default 0.2). */
  datasetShare: number;
}

export const DEFAULT_THRESHOLDS: DriftThresholds = { alpha: 0.05, psiWarn: 0.1, psiAlert: 0.25, jsDistance: 0.1, datasetShare: 0.2 };

export interface FeatureDrift {
  name: string;
  method: 'ks' | 'chi-squared' | 'jensen-shannon';
  /** KS statistic, chi-squared statistic or JS distance. */
  score: number;
  pValue?: number;
  psi?: number;
  psiLevel?: 'ok' | 'warn' | 'alert';
  drifted: boolean;
}

export interface DriftReport {
  model: string;
  version: string;
  windowRows: number;
  inputs: FeatureDrift[];
  outputs: FeatureDrift[];
  driftedShare: number;
  datasetDrift: boolean;
}

function categoryShares(feature: Extract<FeatureProfile, { kind: 'categorical' }>, values: readonly number[]): { counts: number[]; shares: number[] } {
  const counts = new Array<number>(feature.categories.length + 1).fill(0);
  for (const value of values) {
    const index = feature.categories.indexOf(value);
    counts[index === -1 ? feature.categories.length : index]! += 1;
  }
  return { counts, shares: counts.map((c) => c / Math.max(1, values.length)) };
}

function inputDrift(feature: FeatureProfile, values: number[], alphaPerFeature: number, t: DriftThresholds): FeatureDrift {
  if (feature.kind === 'categorical') {
    const { counts } = categoryShares(feature, values);
    // A value never seen in the reference gets a tiny expected share: it counts heavily.
    const result = chiSquared(counts, [...feature.frequencies, 0]);
    return { name: feature.name, method: 'chi-squared', score: result.statistic, pValue: result.pValue, drifted: result.pValue < alphaPerFeature };
  }
  const sorted = values.sort((a, b) => a - b);
  const ks = ksTwoSample(feature.sample, sorted);
  const psi = populationStabilityIndex(feature.proportions, binShares(feature.edges, sorted));
  return {
    name: feature.name,
    method: 'ks',
    score: ks.statistic,
    pValue: ks.pValue,
    psi,
    psiLevel: psi >= t.psiAlert ? 'alert' : psi >= t.psiWarn ? 'warn' : 'ok',
    drifted: ks.pValue < alphaPerFeature,
  };
}

function outputDrift(feature: FeatureProfile, values: number[], t: DriftThresholds): FeatureDrift {
  const [reference, live] =
    feature.kind === 'categorical' ? [[...feature.frequencies, 0], categoryShares(feature, values).shares] : [feature.proportions, binShares(feature.edges, values)];
  const distance = jensenShannonDistance(reference, live);
  return { name: feature.name, method: 'jensen-shannon', score: distance, drifted: distance > t.jsDistance };
}

export function detectDrift(
  profile: ReferenceProfile,
  inputRows: readonly (readonly number[])[],
  outputRows: readonly (readonly number[])[] = [],
  thresholds: Partial<DriftThresholds> = {},
): DriftReport {
  const t = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const alphaPerFeature = t.alpha / Math.max(1, profile.inputs.length);
  const inputs = profile.inputs.map((feature, j) => inputDrift(feature, column(inputRows, j), alphaPerFeature, t));
  const outputs = outputRows.length > 0 ? profile.outputs.map((feature, j) => outputDrift(feature, column(outputRows, j), t)) : [];
  const driftedShare = inputs.filter((f) => f.drifted).length / Math.max(1, inputs.length);
  return {
    model: profile.model,
    version: profile.version,
    windowRows: inputRows.length,
    inputs,
    outputs,
    driftedShare,
    datasetDrift: driftedShare >= t.datasetShare,
  };
}
