/**
 * A reference profile of a model version's inputs (one feature per flattened input element) and
 * outputs, built once from in-distribution rows and frozen: numeric features keep their decile
 * edges and the reference share in each bin, mean, standard deviation, quantiles and a sorted
 * sample (for Kolmogorov–Smirnov); integer-coded features with few values are categorical and
 * keep their frequencies. The profile is plain JSON, so it can be stored and read back.
 */

export interface NumericFeature {
  name: string;
  kind: 'numeric';
  /** The 9 interior decile edges; bin i holds values in (edges[i−1], edges[i]]. */
  edges: number[];
  /** Reference share of each of the 10 bins. */
  proportions: number[];
  mean: number;
  std: number;
  quantiles: { p05: number; p25: number; p50: number; p75: number; p95: number };
  /** Sorted reference values (at most `maxSample`, evenly thinned). */
  sample: number[];
}

export interface CategoricalFeature {
  name: string;
  kind: 'categorical';
  categories: number[];
  frequencies: number[];
}

export type FeatureProfile = NumericFeature | CategoricalFeature;

export interface ReferenceProfile {
  model: string;
  version: string;
  createdAt: string;
  rows: number;
  inputs: FeatureProfile[];
  outputs: FeatureProfile[];
}

export interface ProfileOptions {
  model: string;
  version: string;
  inputNames: string[];
  outputNames?: string[];
  /** Integer-valued features with at most this many distinct values are categorical (default 20). */
  maxCategories?: number;
  /** Reference values kept per numeric feature for KS (default 5000). */
  maxSample?: number;
}

function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

/** Index of the decile bin of `value` for these edges. */
export function binOf(edges: readonly number[], value: number): number {
  let i = 0;
  while (i < edges.length && value > edges[i]!) i++;
  return i;
}

export function binShares(edges: readonly number[], values: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const value of values) counts[binOf(edges, value)]! += 1;
  return counts.map((c) => c / Math.max(1, values.length));
}

export function profileFeature(name: string, values: readonly number[], maxCategories = 20, maxSample = 5000): FeatureProfile {
  const distinct = new Set(values);
  if (distinct.size <= maxCategories && values.every(Number.isInteger)) {
    const categories = [...distinct].sort((a, b) => a - b);
    const frequencies = categories.map((c) => values.filter((v) => v === c).length / values.length);
    return { name, kind: 'categorical', categories, frequencies };
  }
  const sorted = [...values].sort((a, b) => a - b);
  const edges = Array.from({ length: 9 }, (_, i) => quantile(sorted, (i + 1) / 10));
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  const std = Math.sqrt(sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, sorted.length - 1));
  const step = Math.max(1, sorted.length / maxSample);
  const sample: number[] = [];
  for (let i = 0; i < sorted.length && sample.length < maxSample; i += step) sample.push(sorted[Math.floor(i)]!);
  return {
    name,
    kind: 'numeric',
    edges,
    proportions: binShares(edges, sorted),
    mean,
    std,
    quantiles: { p05: quantile(sorted, 0.05), p25: quantile(sorted, 0.25), p50: quantile(sorted, 0.5), p75: quantile(sorted, 0.75), p95: quantile(sorted, 0.95) },
    sample,
  };
}

/** Column `j` of row-major rows. */
export function column(rows: readonly (readonly number[])[], j: number): number[] {
  return rows.map((row) => row[j]!);
}

/** Profiles every input feature (and output, when rows are given) from reference rows. */
export function buildProfile(inputRows: readonly (readonly number[])[], options: ProfileOptions, outputRows?: readonly (readonly number[])[]): ReferenceProfile {
  if (inputRows.length < 100) throw new Error(`a reference profile needs at least 100 rows, got ${inputRows.length}`);
  const profile = (rows: readonly (readonly number[])[], names: string[]) =>
    names.map((name, j) => profileFeature(name, column(rows, j), options.maxCategories, options.maxSample));
  return {
    model: options.model,
    version: options.version,
    createdAt: new Date().toISOString(),
    rows: inputRows.length,
    inputs: profile(inputRows, options.inputNames),
    outputs: outputRows && options.outputNames ? profile(outputRows, options.outputNames) : [],
  };
}
