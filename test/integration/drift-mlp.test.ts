/**
 * Drift detection on the `mlp` example with a seeded synthetic generator: a reference profile of
 * in-distribution inputs (256 standard-normal features) and of the real model's outputs
 * (onnxruntime in-process); a window of 500 requests where a quarter of the features are shifted
 * by 0.5 standard deviations is flagged; 20 windows of unshifted data raise at most one alarm
 * (≤ 5% false alarms).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { seededRandom } from '../../scripts/onnx-builder.js';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { buildProfile, detectDrift, type ReferenceProfile } from '../../src/monitoring/index.js';
import { referenceRun } from '../fixtures/reference-model.js';
import { examplesDir } from '../fixtures/server-process.js';

const FEATURES = 256;
const WINDOW = 500;
const mlpPath = join(examplesDir, 'mlp', '1', 'model.onnx');
const inputNames = Array.from({ length: FEATURES }, (_, i) => `input[${i}]`);
const outputNames = Array.from({ length: 10 }, (_, i) => `output[${i}]`);

/** Standard normal rows (Box–Muller over mulberry32), `shift` added to the first `shifted` features. */
function rows(count: number, seed: number, shifted = 0, shift = 0): number[][] {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: count }, () => Array.from({ length: FEATURES }, (_, j) => normal() + (j < shifted ? shift : 0)));
}

async function outputs(inputs: number[][]): Promise<number[][]> {
  const data = Float32Array.from(inputs.flat());
  const result = await referenceRun(mlpPath, { input: { type: 'float32', data, dims: [inputs.length, FEATURES] } });
  const flat = result.output!;
  return Array.from({ length: inputs.length }, (_, i) => Array.from(flat.subarray(i * 10, i * 10 + 10)));
}

let profile: ReferenceProfile;

before(async () => {
  await prepareExamples();
  const reference = rows(5000, 1);
  profile = buildProfile(reference, { model: 'mlp', version: '1', inputNames, outputNames }, await outputs(reference));
});

test('a 0.5-std shift on a quarter of the features is flagged within one window of 500 requests', async () => {
  const window = rows(WINDOW, 99, FEATURES / 4, 0.5);
  const report = detectDrift(profile, window, await outputs(window));
  assert.ok(report.datasetDrift, `drifted share ${report.driftedShare}`);
  const shifted = report.inputs.slice(0, FEATURES / 4);
  const unshifted = report.inputs.slice(FEATURES / 4);
  assert.ok(shifted.filter((f) => f.drifted).length >= 0.9 * shifted.length, `${shifted.filter((f) => f.drifted).length} of ${shifted.length} shifted features flagged`);
  assert.ok(unshifted.filter((f) => f.drifted).length <= 2);
  assert.ok(shifted.every((f) => f.psiLevel !== 'ok' || (f.psi ?? 0) > 0.05), 'PSI moves with the shift');
});

test('over 20 windows of unshifted data the false-alarm rate is at most 5%', async () => {
  let alarms = 0;
  for (let w = 0; w < 20; w++) {
    const window = rows(WINDOW, 1000 + w);
    const report = detectDrift(profile, window, await outputs(window));
    if (report.datasetDrift) alarms += 1;
  }
  assert.ok(alarms / 20 <= 0.05, `${alarms} alarms in 20 windows`);
});
