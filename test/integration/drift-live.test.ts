/**
 * Live drift on a real server: `mlp` watched against its first 1000 live rows (--drift-baseline),
 * then 500 in-distribution rows (no alert), then 500 rows with a 0.5-std shift on a quarter of the
 * features. The shifted window is reported as drift through GET /v1/models/mlp/drift and the
 * Prometheus metrics, the alert webhook receives the report, and the retraining command runs
 * once with the report on stdin.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { seededRandom } from '../../scripts/onnx-builder.js';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';

const FEATURES = 256;
const ROWS_PER_REQUEST = 25;

let server: ServerProcess;
let webhook: Server;
let work: string;
const alerts: Array<Record<string, unknown>> = [];

function rows(count: number, seed: number, shifted = 0, shift = 0): number[] {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const data: number[] = [];
  for (let r = 0; r < count; r++) for (let j = 0; j < FEATURES; j++) data.push(normal() + (j < shifted ? shift : 0));
  return data;
}

/** Sends `count` rows in requests of ROWS_PER_REQUEST, four at a time. */
async function send(count: number, seed: number, shifted = 0): Promise<void> {
  const data = rows(count, seed, shifted, 0.5);
  const requests = count / ROWS_PER_REQUEST;
  const post = async (i: number) => {
    const slice = data.slice(i * ROWS_PER_REQUEST * FEATURES, (i + 1) * ROWS_PER_REQUEST * FEATURES);
    const response = await fetch(`${server.url}/v2/models/mlp/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [ROWS_PER_REQUEST, FEATURES], data: slice }] }),
    });
    assert.equal(response.status, 200, await response.text());
  };
  for (let i = 0; i < requests; i += 4) await Promise.all([i, i + 1, i + 2, i + 3].filter((k) => k < requests).map(post));
}

async function driftStatus(): Promise<{ phase: string; versions: Array<{ version: string; windows: number; latest?: { datasetDrift: boolean; driftedShare: number; window: { index: number } } }> }> {
  const response = await fetch(`${server.url}/v1/models/mlp/drift`);
  assert.equal(response.status, 200);
  return (await response.json()) as never;
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

before(async () => {
  await prepareExamples();
  work = mkdtempSync(join(tmpdir(), 'mp-drift-live-'));
  webhook = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      alerts.push(JSON.parse(body) as Record<string, unknown>);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/drift`;
  server = await startServer([
    '--model-repository', examplesDir,
    '--registry', 'off',
    '--drift-baseline', 'mlp=1000',
    '--drift-window', '500',
    '--drift-alert-webhook', hookUrl,
    '--retrain-command', `cat > ${join(work, 'retrain.json')}`,
  ]);
});

after(async () => {
  await server?.stop();
  webhook?.close();
  rmSync(work, { recursive: true, force: true });
});

test('a baseline of live rows, a quiet window, then a shifted window that alerts and starts retraining', async () => {
  await send(1000, 1);
  await waitFor(driftStatus, (s) => s.phase === 'monitoring', 'the baseline to be built');

  await send(500, 2);
  const quiet = await waitFor(driftStatus, (s) => (s.versions[0]?.latest?.window.index ?? 0) >= 1, 'the first window report');
  assert.equal(quiet.versions[0]!.latest?.datasetDrift, false, 'in-distribution rows do not drift');
  assert.equal(alerts.length, 0);

  await send(500, 3, FEATURES / 4);
  const shifted = await waitFor(driftStatus, (s) => (s.versions[0]?.latest?.window.index ?? 0) >= 2, 'the second window report');
  assert.equal(shifted.versions[0]!.latest?.datasetDrift, true, `drifted share ${shifted.versions[0]!.latest?.driftedShare}`);

  await waitFor(async () => alerts.length, (n) => n >= 1, 'the alert webhook');
  assert.equal(alerts[0]!['model'], 'mlp');
  await waitFor(async () => existsSync(join(work, 'retrain.json')) && readFileSync(join(work, 'retrain.json'), 'utf8').length > 0, Boolean, 'the retraining command');
  const report = JSON.parse(readFileSync(join(work, 'retrain.json'), 'utf8')) as { model: string; datasetDrift: boolean };
  assert.equal(report.model, 'mlp');
  assert.equal(report.datasetDrift, true);

  const metrics = await (await fetch(server.metricsUrl)).text();
  assert.match(metrics, /modelport_drift_dataset_detected\{model="mlp",version="1"\} 1/);
  assert.match(metrics, /modelport_drift_detected\{model="mlp",version="1",feature="input\[0\]"\} 1/);
  assert.match(metrics, /modelport_drift_score\{model="mlp",version="1",feature="input\[0\]",method="ks"\}/);
  const notWatched = await fetch(`${server.url}/v1/models/vad/drift`);
  assert.equal(notWatched.status, 404);
  assert.match(((await notWatched.json()) as { error: string }).error, /not watched/);
});
