import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Tensor } from '../../core/index.js';
import { Metrics } from '../metrics.js';
import { LiveDriftMonitor, readReferenceProfile, readReferenceProfileSync, validateProfile, type LiveDriftReport } from './live-drift-monitor.js';
import { buildProfile, type ReferenceProfile } from './reference-profile.js';

/** mulberry32, and normal deviates by Box–Muller: the same stream on every run. */
function normalGenerator(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

const FEATURES = 256;
const names = (n: number, tensor = 'x') => Array.from({ length: n }, (_, j) => `${tensor}[${j}]`);

/** An FP32 input `x` of `rows` rows; features below `shifted` have their mean moved by +0.5σ. */
function batch(normal: () => number, rows: number, features = FEATURES, shifted = 0): Tensor {
  const data = new Float32Array(rows * features);
  for (let i = 0; i < data.length; i++) data[i] = normal() + (i % features < shifted ? 0.5 : 0);
  return { name: 'x', datatype: 'FP32', shape: [rows, features], data };
}

/** An output `y` per row: the mean of the row's first four features. */
function outputOf(input: Tensor): Tensor {
  const [rows, width] = input.shape as [number, number];
  const x = input.data as Float32Array;
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) y[i] = (x[i * width]! + x[i * width + 1]! + x[i * width + 2]! + x[i * width + 3]!) / 4;
  return { name: 'y', datatype: 'FP32', shape: [rows, 1], data: y };
}

let cachedProfile: ReferenceProfile | undefined;
/** Reference N(0,1) for each of 256 features, from 2000 rows. */
function referenceProfile(): ReferenceProfile {
  if (cachedProfile) return cachedProfile;
  const normal = normalGenerator(1);
  const rows = Array.from({ length: 2000 }, () => Array.from({ length: FEATURES }, normal));
  cachedProfile = buildProfile(rows, { model: 'm', version: '1', inputNames: names(FEATURES) });
  return cachedProfile;
}

test('a +0.5σ shift on a quarter of 256 features is flagged within one 500-row window', async () => {
  const reports: LiveDriftReport[] = [];
  const monitor = new LiveDriftMonitor({ models: { m: { profile: referenceProfile() } }, onReport: (r) => reports.push(r) });
  const normal = normalGenerator(2);
  for (let i = 0; i < 500; i++) monitor.observe('m', '1', [batch(normal, 1, FEATURES, 64)]);
  assert.equal(reports.length, 0, 'tests run off the request path');
  // The window's tests are spread over event-loop turns, so other callbacks run in between.
  let turns = 0;
  let testing = true;
  const tick = () => {
    turns += 1;
    if (testing) setImmediate(tick);
  };
  setImmediate(tick);
  await monitor.idle();
  testing = false;
  assert.ok(turns >= 2, `only ${turns} turn(s) while testing`);
  assert.equal(reports.length, 1);
  const report = reports[0]!;
  assert.equal(report.datasetDrift, true);
  assert.deepEqual([report.model, report.version, report.windowRows, report.window.index, report.window.closedBy], ['m', '1', 500, 1, 'count']);
  const drifted = report.inputs.filter((f) => f.drifted).map((f) => f.name);
  const shifted = names(64);
  assert.deepEqual(
    shifted.filter((n) => !drifted.includes(n)),
    [],
    'every shifted feature is flagged',
  );
  assert.ok(drifted.length - shifted.length <= 1, `unshifted features flagged: ${drifted.filter((n) => !shifted.includes(n)).join(', ')}`);
  assert.ok(report.inputs.slice(0, 64).every((f) => f.psiLevel !== 'ok'), 'PSI over the reference deciles sees the shift too');
  assert.deepEqual(monitor.latest('m'), [report]);
  await monitor.close();
});

test('20 windows without drift give at most one false alarm (batched requests)', async (t) => {
  const reports: LiveDriftReport[] = [];
  const monitor = new LiveDriftMonitor({ models: { m: { profile: referenceProfile() } }, onReport: (r) => reports.push(r) });
  const normal = normalGenerator(3);
  for (let w = 0; w < 20; w++) {
    for (let i = 0; i < 10; i++) monitor.observe('m', '1', [batch(normal, 50)]);
    await monitor.idle();
  }
  assert.equal(reports.length, 20);
  const datasetAlarms = reports.filter((r) => r.datasetDrift).length;
  const windowsWithAFeature = reports.filter((r) => r.inputs.some((f) => f.drifted)).length;
  t.diagnostic(`dataset alarms ${datasetAlarms}/20; windows with any feature flagged ${windowsWithAFeature}/20; compute per window ${reports.map((r) => r.computeMs.toFixed(1)).join(' ')} ms`);
  assert.ok(datasetAlarms <= 1);
  // Bonferroni keeps the family-wise rate near 5% per window.
  assert.ok(windowsWithAFeature <= 3, `${windowsWithAFeature} windows flagged a feature`);
  assert.deepEqual(monitor.status('m')[0]!.versions[0]!.windows, 20);
  await monitor.close();
});

test('baseline from the first N live rows, then windows per version; outputs compared only on the baseline version', async () => {
  const reports: LiveDriftReport[] = [];
  const monitor = new LiveDriftMonitor({ models: { '*': { baselineRequests: 1000 } }, windowRows: 300, onReport: (r) => reports.push(r) });
  const normal = normalGenerator(4);
  const features = 16;
  const serve = (version: string, rows: number, shifted = 0) => {
    const x = batch(normal, rows, features, shifted);
    monitor.observe('fraud', version, [x], [outputOf(x)]);
  };
  assert.deepEqual(monitor.status(), [], '"*" adds a model at its first request');
  for (let i = 0; i < 50; i++) serve('1', 10);
  assert.deepEqual(monitor.status('fraud').map((s) => [s.phase, s.baseline]), [['baseline', { rows: 500, target: 1000 }]]);
  for (let i = 0; i < 50; i++) serve('1', 10);
  assert.equal(monitor.status('fraud')[0]!.phase, 'building');
  await monitor.idle();
  const [status] = monitor.status('fraud');
  assert.equal(status!.phase, 'monitoring');
  assert.deepEqual({ ...status!.reference, createdAt: undefined }, { source: 'baseline', version: '1', rows: 1000, createdAt: undefined });
  // A request whose input lacks a feature does not fit the reference.
  monitor.observe('fraud', '1', [batch(normal, 1, features - 1)]);
  assert.equal(monitor.status('fraud')[0]!.versions[0]!.unmatchedRequests, 1);

  for (let i = 0; i < 30; i++) serve('1', 10);
  await monitor.idle();
  for (let i = 0; i < 30; i++) serve('2', 10, 8);
  await monitor.idle();
  assert.equal(reports.length, 2);
  const [v1, v2] = reports as [LiveDriftReport, LiveDriftReport];
  assert.deepEqual([v1.version, v1.datasetDrift, v1.window.outputRows, v1.outputs.map((o) => o.name)], ['1', false, 300, ['y[0]']]);
  assert.equal(v1.outputs[0]!.drifted, false);
  assert.deepEqual([v2.version, v2.datasetDrift, v2.window.outputRows, v2.outputs.length], ['2', true, 0, 0]);
  assert.deepEqual(v2.inputs.filter((f) => f.drifted).map((f) => f.name), names(8));
  assert.deepEqual(monitor.latest('fraud').map((r) => r.version), ['1', '2']);
  assert.deepEqual(monitor.latest('other'), []);
  await monitor.close();
});

test('time windows close once they are old enough and hold the minimum rows (injected clock)', async () => {
  let now = 1_000_000;
  const reports: LiveDriftReport[] = [];
  const monitor = new LiveDriftMonitor({
    models: { m: { profile: referenceProfile() } },
    windowRows: 500,
    windowMs: 60_000,
    minWindowRows: 100,
    timer: false,
    now: () => now,
    onReport: (r) => reports.push(r),
  });
  const normal = normalGenerator(5);
  monitor.observe('m', '1', [batch(normal, 150)]);
  now += 30_000;
  monitor.poll();
  await monitor.idle();
  assert.equal(reports.length, 0);
  now += 30_000;
  monitor.poll();
  await monitor.idle();
  assert.equal(reports.length, 1);
  assert.deepEqual(reports[0]!.window, {
    index: 1,
    rows: 150,
    outputRows: 0,
    startedAt: new Date(1_000_000).toISOString(),
    endedAt: new Date(1_060_000).toISOString(),
    closedBy: 'time',
  });

  // Too few rows when the time is up: the window stays open until it has enough.
  now += 1_000;
  monitor.observe('m', '1', [batch(normal, 50)]);
  now += 200_000;
  monitor.poll();
  await monitor.idle();
  assert.equal(reports.length, 1);
  monitor.observe('m', '1', [batch(normal, 60)]);
  monitor.poll();
  await monitor.idle();
  assert.equal(reports.length, 2);
  assert.deepEqual([reports[1]!.window.rows, reports[1]!.window.startedAt, reports[1]!.window.closedBy], [110, new Date(1_061_000).toISOString(), 'time']);

  // The count still closes a window first when traffic is high; a batch spills into the next one.
  monitor.observe('m', '1', [batch(normal, 400)]);
  monitor.observe('m', '1', [batch(normal, 200)]);
  await monitor.idle();
  assert.deepEqual(reports.slice(2).map((r) => [r.window.rows, r.window.closedBy]), [[500, 'count']]);
  assert.equal(monitor.status('m')[0]!.versions[0]!.windowFill, 100);
  await monitor.flush();
  assert.deepEqual(reports.slice(3).map((r) => [r.window.rows, r.window.closedBy]), [[100, 'flush']]);
  await monitor.close();
});

test('metric samples: scores by method, p-values, per-feature and dataset verdicts, window counters', async () => {
  const monitor = new LiveDriftMonitor({ models: { m: { profile: referenceProfile() } } });
  const normal = normalGenerator(6);
  assert.deepEqual(
    monitor.metrics().map((f) => [f.name, f.samples.length]),
    [
      ['modelport_drift_score', 0],
      ['modelport_drift_p_value', 0],
      ['modelport_drift_detected', 0],
      ['modelport_drift_dataset_detected', 0],
      ['modelport_drift_drifted_share', 0],
      ['modelport_drift_windows_total', 0],
      ['modelport_drift_windows_dropped_total', 0],
      ['modelport_drift_unmatched_requests_total', 0],
    ],
  );
  monitor.observe('m', '1', [batch(normal, 500, FEATURES, 64)]);
  await monitor.idle();
  const families = new Map(monitor.metrics().map((f) => [f.name, f]));
  const score = families.get('modelport_drift_score')!;
  assert.equal(score.type, 'gauge');
  assert.equal(score.samples.length, 2 * FEATURES, 'ks and psi per numeric feature');
  assert.deepEqual(
    score.samples.filter((s) => s.labels.feature === 'x[0]').map((s) => s.labels),
    [
      { model: 'm', version: '1', feature: 'x[0]', method: 'ks' },
      { model: 'm', version: '1', feature: 'x[0]', method: 'psi' },
    ],
  );
  const detected = families.get('modelport_drift_detected')!.samples;
  assert.deepEqual(detected[0], { labels: { model: 'm', version: '1', feature: 'x[0]' }, value: 1 });
  assert.equal(families.get('modelport_drift_p_value')!.samples[0]!.labels.method, 'ks');
  assert.deepEqual(families.get('modelport_drift_dataset_detected')!.samples, [{ labels: { model: 'm', version: '1' }, value: 1 }]);
  assert.deepEqual(families.get('modelport_drift_windows_total')!.samples, [{ labels: { model: 'm', version: '1' }, value: 1 }]);
  assert.equal(families.get('modelport_drift_windows_total')!.type, 'counter');

  // Through the server's registry, as Prometheus reads it.
  const metrics = new Metrics({ processMetrics: false });
  monitor.registerMetrics(metrics);
  const text = await metrics.exposition();
  assert.match(text, /# TYPE modelport_drift_score gauge/);
  assert.match(text, /modelport_drift_score\{model="m",version="1",feature="x\[0\]",method="ks"\} 0\.\d+/);
  assert.match(text, /modelport_drift_dataset_detected\{model="m",version="1"\} 1/);
  assert.match(text, /modelport_drift_windows_total\{model="m",version="1"\} 1/);
  monitor.forget('m', '1');
  assert.equal(monitor.metrics()[0]!.samples.length, 0);
  await monitor.close();
});

test('capture before inference survives inputs moving to a worker; windows are dropped, not queued, when tests lag', async () => {
  const reports: LiveDriftReport[] = [];
  const monitor = new LiveDriftMonitor({ models: { m: { profile: referenceProfile() } }, onReport: (r) => reports.push(r) });
  const normal = normalGenerator(8);
  const x = batch(normal, 500, FEATURES, 64);
  const capture = monitor.capture('m', '1', [x])!;
  // What postMessage with a transfer list does to the request's buffer.
  const moved = (x.data as Float32Array).buffer as ArrayBuffer;
  structuredClone(moved, { transfer: [moved] });
  assert.equal((x.data as Float32Array).length, 0);
  capture.commit([]);
  capture.commit([]); // a second commit is ignored
  assert.equal(monitor.capture('other', '1', [x]), undefined);
  assert.equal(monitor.watches('m'), true);
  assert.equal(monitor.watches('other'), false);
  // Two more windows arrive before the first is tested: one buffer is under test, the other filling.
  monitor.observe('m', '1', [batch(normal, 500)]);
  monitor.observe('m', '1', [batch(normal, 500)]);
  await monitor.idle();
  assert.equal(reports.length, 1);
  assert.equal(reports[0]!.datasetDrift, true);
  const [status] = monitor.status('m');
  assert.equal(status!.phase, 'monitoring');
  assert.deepEqual(status!.versions.map((v) => [v.version, v.windows, v.droppedWindows, v.windowFill, v.latest?.window.index]), [['1', 1, 2, 0, 1]]);
  await monitor.close();
});

test('profiles are checked when read; bad options are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drift-profile-'));
  try {
    const file = join(dir, 'profile.json');
    writeFileSync(file, `${JSON.stringify(referenceProfile())}\n`);
    assert.equal((await readReferenceProfile(file)).inputs.length, FEATURES);
    assert.deepEqual(readReferenceProfileSync(file), await readReferenceProfile(file));
    writeFileSync(file, '{"inputs": []}');
    await assert.rejects(readReferenceProfile(file), /no input features/);
    writeFileSync(file, 'not json');
    await assert.rejects(readReferenceProfile(file), /drift profile .*profile\.json/);
    assert.throws(() => readReferenceProfileSync(join(dir, 'missing.json')), /drift profile .*missing\.json: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => validateProfile({ inputs: [{ name: 'a', kind: 'numeric', edges: [1], proportions: [1], sample: [1] }], outputs: [] }), /bins/);
  assert.throws(() => new LiveDriftMonitor({ models: { m: { baselineRequests: 50 } } }), /at least 100 rows/);
  // A named model is listed before its first request.
  assert.deepEqual(new LiveDriftMonitor({ models: { m: { baselineRequests: 200 } } }).status(), [{ model: 'm', phase: 'baseline', baseline: { rows: 0, target: 200 }, versions: [] }]);
  assert.throws(() => new LiveDriftMonitor({ models: { '*': { profile: referenceProfile() } } }), /baseline, not a profile/);
  assert.throws(() => new LiveDriftMonitor({ models: { m: { profile: referenceProfile() } }, maxFeatures: 100 }), /more than maxFeatures/);
  assert.throws(() => new LiveDriftMonitor({ models: {}, windowRows: 0 }), /windowRows/);
  assert.throws(() => new LiveDriftMonitor({ models: {}, sampleRate: 0 }), /sampleRate/);
  const unsorted = structuredClone(referenceProfile().inputs[0]!) as { sample: number[] };
  unsorted.sample.reverse();
  assert.throws(() => validateProfile({ inputs: [unsorted], outputs: [] }), /out of order/);
});

test('a sample rate records about that share of requests', async () => {
  const monitor = new LiveDriftMonitor({ models: { m: { profile: referenceProfile() } }, sampleRate: 0.25, windowRows: 5000 });
  const normal = normalGenerator(10);
  const x = batch(normal, 1);
  for (let i = 0; i < 4000; i++) monitor.observe('m', '1', [x]);
  const fill = monitor.status('m')[0]!.versions[0]!.windowFill;
  // Binomial(4000, 0.25): mean 1000, sd ~27.
  assert.ok(fill > 850 && fill < 1150, `recorded ${fill} of 4000`);
  await monitor.close();
});
