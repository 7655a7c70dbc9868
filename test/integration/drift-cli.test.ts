/**
 * `modelport profile` and `modelport drift` on files: a profile from plain JSONL rows, then a
 * payload log (CloudEvents as --payload-log writes them) whose second window is shifted is
 * reported as drift in that window only; bad input exits 1 or 2 with a message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { seededRandom } from '../../scripts/onnx-builder.js';
import { toCloudEvent } from '../../src/monitoring/index.js';
import { modelport } from '../fixtures/cli-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'modelport-drift-'));
after(() => rmSync(dir, { recursive: true, force: true }));


function normalRows(count: number, seed: number, shift = 0): number[][] {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: count }, () => Array.from({ length: 16 }, (_, j) => normal() + (j < 8 ? shift : 0)));
}

test('profile from JSONL rows, then drift reported in the shifted window of a payload log only', async () => {
  const reference = join(dir, 'ref.jsonl');
  writeFileSync(reference, normalRows(2000, 1).map((r) => JSON.stringify(r)).join('\n') + '\n');
  const profilePath = join(dir, 'profile.json');
  const profiled = await modelport('profile', 'm', '--data', reference, '--out', profilePath);
  assert.equal(profiled.code, 0, profiled.stderr);
  assert.match(profiled.stdout, /2000 rows, 16 input features/);
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as { inputs: Array<{ kind: string; edges: number[] }> };
  assert.equal(profile.inputs.length, 16);
  assert.equal(profile.inputs[0]!.kind, 'numeric');
  assert.equal(profile.inputs[0]!.edges.length, 9);

  // A payload log: 500 in-distribution requests, then 500 with half the features shifted by 1 std.
  const events = [...normalRows(500, 2), ...normalRows(500, 3, 1)].map((row, i) =>
    toCloudEvent(
      {
        time: new Date(0),
        requestId: `r${i}`,
        model: 'm',
        version: '1',
        arm: 'stable',
        protocol: 'http',
        outcome: 'ok',
        latencyMs: 1,
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 16], data: Float32Array.from(row) }],
      },
      '/modelport',
      65536,
    ),
  );
  const log = join(dir, 'payloads.jsonl');
  writeFileSync(log, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const drift = await modelport('drift', '--profile', profilePath, '--data', log, '--window', '500');
  assert.equal(drift.code, 0, drift.stderr);
  const lines = drift.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^window 1 \(rows 1-500\): no drift/);
  assert.match(lines[1]!, /^window 2 \(rows 501-1000\): DRIFT, 50\.0% of input features drifted; most: x\[\d\] \(ks p=/);

  const json = await modelport('drift', '--profile', profilePath, '--data', log, '--json');
  const reports = JSON.parse(json.stdout) as Array<{ datasetDrift: boolean; inputs: Array<{ psiLevel: string }> }>;
  assert.deepEqual(reports.map((r) => r.datasetDrift), [false, true]);
  assert.equal(reports[1]!.inputs[0]!.psiLevel, 'alert');
});

test('bad input: a file with other features exits 1 naming both counts; a bad window exits 2', async () => {
  const other = join(dir, 'other.jsonl');
  writeFileSync(other, normalRows(600, 4).map((r) => JSON.stringify(r.slice(0, 4))).join('\n') + '\n');
  const profilePath = join(dir, 'profile.json');
  const mismatch = await modelport('drift', '--profile', profilePath, '--data', other);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /has 4 input features; the profile has 16/);
  const badWindow = await modelport('drift', '--profile', profilePath, '--data', other, '--window', '0');
  assert.equal(badWindow.code, 2);
  const notJson = join(dir, 'bad.jsonl');
  writeFileSync(notJson, '[1,2]\n{oops\n');
  const broken = await modelport('profile', 'm', '--data', notJson, '--out', join(dir, 'x.json'));
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /bad\.jsonl:2: not JSON/);
});
