/**
 * The statistical tests drift detection uses, as plain functions over numbers so each can be
 * checked against values computed by hand: population stability index, the two-sample
 * Kolmogorov–Smirnov test (asymptotic p-value), Pearson's chi-squared goodness-of-fit test and the
 * Jensen–Shannon distance. Thresholds live with the detector, not here.
 */

/** Proportions below this are raised to it, so empty bins do not make PSI infinite. */
const EPSILON = 1e-4;

/** PSI = Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ) over bins, with proportions `expected` and `actual`. */
export function populationStabilityIndex(expected: readonly number[], actual: readonly number[]): number {
  let psi = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]!, EPSILON);
    const a = Math.max(actual[i]!, EPSILON);
    psi += (a - e) * Math.log(a / e);
  }
  return psi;
}

/** Kolmogorov's limiting distribution: P(K > λ) = 2 Σ (−1)^(k−1) e^(−2k²λ²). */
export function kolmogorovSurvival(lambda: number): number {
  if (lambda < 0.2) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = 2 * (k % 2 === 1 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12) break;
  }
  return Math.min(1, Math.max(0, sum));
}

export interface KsResult {
  statistic: number;
  pValue: number;
}

/**
 * Two-sample KS: D = sup |F₁(x) − F₂(x)|, p from the limiting distribution with Stephens'
 * small-sample correction λ = (√nₑ + 0.12 + 0.11/√nₑ)·D, nₑ = n·m/(n+m).
 * `a` and `b` must be sorted ascending.
 */
export function ksTwoSample(a: readonly number[], b: readonly number[]): KsResult {
  const n = a.length;
  const m = b.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const x = Math.min(a[i]!, b[j]!);
    while (i < n && a[i]! <= x) i++;
    while (j < m && b[j]! <= x) j++;
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  const en = Math.sqrt((n * m) / (n + m));
  return { statistic: d, pValue: kolmogorovSurvival((en + 0.12 + 0.11 / en) * d) };
}

/** ln Γ(x), Lanczos approximation (g = 7, 9 terms), accurate to ~1e-15 for x > 0. */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = c[0]!;
  for (let i = 1; i < 9; i++) sum += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Regularised upper incomplete gamma Q(s, x): series below s + 1, continued fraction above. */
export function upperIncompleteGammaQ(s: number, x: number): number {
  if (x <= 0) return 1;
  const logPrefix = -x + s * Math.log(x) - logGamma(s);
  if (x < s + 1) {
    let term = 1 / s;
    let sum = term;
    for (let k = 1; k < 1000; k++) {
      term *= x / (s + k);
      sum += term;
      if (term < sum * 1e-15) break;
    }
    return Math.max(0, 1 - Math.exp(logPrefix) * sum);
  }
  // Lentz's continued fraction for Q.
  let b = x + 1 - s;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let k = 1; k < 1000; k++) {
    const an = -k * (k - s);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(logPrefix) * h;
}

export interface ChiSquaredResult {
  statistic: number;
  degreesOfFreedom: number;
  pValue: number;
}

/** Goodness of fit of `observed` counts to `expectedProportions` (categories with zero expectation skipped). */
export function chiSquared(observed: readonly number[], expectedProportions: readonly number[]): ChiSquaredResult {
  const total = observed.reduce((sum, v) => sum + v, 0);
  let statistic = 0;
  let categories = 0;
  for (let i = 0; i < observed.length; i++) {
    const expected = Math.max(expectedProportions[i]!, EPSILON) * total;
    statistic += (observed[i]! - expected) ** 2 / expected;
    categories += 1;
  }
  const degreesOfFreedom = Math.max(1, categories - 1);
  return { statistic, degreesOfFreedom, pValue: upperIncompleteGammaQ(degreesOfFreedom / 2, statistic / 2) };
}

/** Jensen–Shannon distance (√ of the divergence, base 2): 0 for equal distributions, 1 for disjoint ones. */
export function jensenShannonDistance(p: readonly number[], q: readonly number[]): number {
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]!;
    const qi = q[i]!;
    const mi = (pi + qi) / 2;
    if (pi > 0) divergence += 0.5 * pi * Math.log2(pi / mi);
    if (qi > 0) divergence += 0.5 * qi * Math.log2(qi / mi);
  }
  return Math.sqrt(Math.max(0, divergence));
}
