import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chiSquared, jensenShannonDistance, kolmogorovSurvival, ksTwoSample, populationStabilityIndex, upperIncompleteGammaQ } from './statistics.js';

const close = (actual: number, expected: number, tolerance: number, label: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} vs ${expected}`);

test('PSI by hand: (0.25−0.5)·ln(0.25/0.5) + (0.75−0.5)·ln(0.75/0.5) = 0.2747', () => {
  close(populationStabilityIndex([0.5, 0.5], [0.25, 0.75]), 0.25 * Math.log(2) + 0.25 * Math.log(1.5), 1e-12, 'psi');
  assert.equal(populationStabilityIndex([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]), 0);
});

test('Kolmogorov survival at the classic 5% and 1% critical values (1.358, 1.628)', () => {
  close(kolmogorovSurvival(1.358), 0.05, 5e-4, 'Q(1.358)');
  close(kolmogorovSurvival(1.628), 0.01, 2e-4, 'Q(1.628)');
  assert.equal(kolmogorovSurvival(0.1), 1);
});

test('two-sample KS statistic by hand, and p-values that separate shifted from equal samples', () => {
  assert.equal(ksTwoSample([1, 2, 3, 4], [3, 4, 5, 6]).statistic, 0.5);
  assert.equal(ksTwoSample([1, 2, 3], [1, 2, 3]).statistic, 0);
  const grid = Array.from({ length: 1000 }, (_, i) => i / 1000);
  const shifted = grid.map((x) => x + 0.2);
  const ks = ksTwoSample(grid, shifted);
  close(ks.statistic, 0.2, 0.0015, 'D'); // one grid step of float rounding
  assert.ok(ks.pValue < 1e-10);
  assert.ok(ksTwoSample(grid, grid).pValue > 0.99);
});

test('chi-squared by hand: [10,20,30] against uniform is χ²=10, df=2, p=e^(−5)', () => {
  const result = chiSquared([10, 20, 30], [1 / 3, 1 / 3, 1 / 3]);
  close(result.statistic, 10, 1e-9, 'statistic');
  assert.equal(result.degreesOfFreedom, 2);
  close(result.pValue, Math.exp(-5), 1e-9, 'p');
  // Published table value: χ²=3.841 with df=1 is the 5% point.
  close(upperIncompleteGammaQ(0.5, 3.841 / 2), 0.05, 2e-4, 'df1 5%');
  // And χ²=18.307 with df=10.
  close(upperIncompleteGammaQ(5, 18.307 / 2), 0.05, 2e-4, 'df10 5%');
});

test('Jensen–Shannon distance: 0 for equal, 1 for disjoint, √(JSD) in between', () => {
  assert.equal(jensenShannonDistance([0.5, 0.5], [0.5, 0.5]), 0);
  close(jensenShannonDistance([1, 0], [0, 1]), 1, 1e-12, 'disjoint');
  // p=[1,0], q=[0.5,0.5]: m=[0.75,0.25]; JSD = ½·log2(1/0.75) + ½·(½·log2(0.5/0.75) + ½·log2(0.5/0.25)).
  const jsd = 0.5 * Math.log2(1 / 0.75) + 0.5 * (0.5 * Math.log2(0.5 / 0.75) + 0.5 * Math.log2(0.5 / 0.25));
  close(jensenShannonDistance([1, 0], [0.5, 0.5]), Math.sqrt(jsd), 1e-12, 'half');
});
