import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DriftAlerts } from './drift-alerts.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A local webhook receiver answering with the statuses given, then 200. */
async function receiver(statuses: number[] = []): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      received.push({ headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.statusCode = statuses.shift() ?? 200;
      response.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

const report = (model: string, datasetDrift = true) => ({ model, version: '3', datasetDrift, driftedShare: 0.5, inputs: [{ name: 'x[0]', method: 'ks', score: 0.3, drifted: true }] });

/** A node one-liner that writes its stdin and the drift environment to `file`. */
const writeStdinTo = (file: string) => [
  process.execPath,
  '-e',
  `let s='';process.stdin.on('data',d=>s+=d).on('end',()=>require('fs').appendFileSync(${JSON.stringify(file)},JSON.stringify({stdin:JSON.parse(s),model:process.env.MODELPORT_DRIFT_MODEL,version:process.env.MODELPORT_DRIFT_VERSION})+'\\n'))`,
];

test('an alert and the retraining command fire once per cool-down per model', async () => {
  const hook = await receiver();
  const dir = mkdtempSync(join(tmpdir(), 'drift-alerts-'));
  const out = join(dir, 'retrain.jsonl');
  let now = 0;
  const alerts = new DriftAlerts({ alertWebhook: hook.url, retrainCommand: writeStdinTo(out), cooldownMs: 60_000, now: () => now });
  try {
    assert.deepEqual(await alerts.handle(report('a', false)), { fired: false, results: {} });
    assert.deepEqual(await alerts.handle(report('a')), { fired: true, results: { 'alert-webhook': true, 'retrain-command': true } });
    now = 30_000;
    assert.equal((await alerts.handle(report('a'))).fired, false, 'within the cool-down');
    assert.equal((await alerts.handle(report('b'))).fired, true, 'another model has its own cool-down');
    now = 60_000;
    assert.equal((await alerts.handle(report('a'))).fired, true, 'after the cool-down');
    await alerts.idle();

    assert.deepEqual(hook.received.map((r) => (r.body as { model: string }).model), ['a', 'b', 'a']);
    assert.equal(hook.received[0]!.headers['content-type'], 'application/json');
    assert.equal(hook.received[0]!.headers['x-modelport-event'], 'drift-alert');
    assert.deepEqual(hook.received[0]!.body, report('a'));
    const runs = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { stdin: { model: string }; model: string; version: string });
    assert.deepEqual(runs.map((r) => [r.model, r.version, r.stdin.model]).sort(), [['a', '3', 'a'], ['a', '3', 'a'], ['b', '3', 'b']]);
    assert.deepEqual(
      alerts.samples().map((s) => [s.labels.model, s.labels.action, s.labels.outcome, s.value]).sort(),
      [
        ['a', 'alert-webhook', 'ok', 2],
        ['a', 'retrain-command', 'ok', 2],
        ['a', 'suppressed', 'cooldown', 1],
        ['b', 'alert-webhook', 'ok', 1],
        ['b', 'retrain-command', 'ok', 1],
      ],
    );
  } finally {
    hook.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a retraining command given as one string runs under sh with the report on stdin, not in its arguments', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drift-alerts-'));
  const out = join(dir, 'stdin.json');
  try {
    const alerts = new DriftAlerts({ retrainCommand: `cat > '${out}'; test "$MODELPORT_DRIFT_MODEL" = "it's"` });
    // A model name that would break a shell line built from it.
    const outcome = await alerts.handle(report("it's"));
    assert.deepEqual(outcome, { fired: true, results: { 'retrain-command': true } });
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), report("it's"));
    // A failing command is logged and reported, never thrown.
    const failing = new DriftAlerts({ retrainCommand: ['/nonexistent/retrain'] });
    assert.deepEqual(await failing.handle(report('a')), { fired: true, results: { 'retrain-command': false } });
    const exits = new DriftAlerts({ retrainCommand: 'exit 3' });
    assert.deepEqual(await exits.handle(report('a')), { fired: true, results: { 'retrain-command': false } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('webhooks are retried twice on 5xx, not on 4xx, and time out', async () => {
  const flaky = await receiver([500, 503]);
  const rejecting = await receiver([400]);
  const hung = createServer(() => {});
  hung.listen(0, '127.0.0.1');
  await once(hung, 'listening');
  try {
    const retried = new DriftAlerts({ retrainWebhook: flaky.url, backoffMs: 5 });
    assert.deepEqual(await retried.handle(report('a')), { fired: true, results: { 'retrain-webhook': true } });
    assert.equal(flaky.received.length, 3);
    assert.equal(flaky.received[2]!.headers['x-modelport-event'], 'retrain');

    const refused = new DriftAlerts({ alertWebhook: rejecting.url, backoffMs: 5 });
    assert.deepEqual(await refused.handle(report('a')), { fired: true, results: { 'alert-webhook': false } });
    assert.equal(rejecting.received.length, 1);

    const slow = new DriftAlerts({ alertWebhook: `http://127.0.0.1:${(hung.address() as AddressInfo).port}/`, timeoutMs: 100, backoffMs: 5 });
    const started = Date.now();
    assert.deepEqual(await slow.handle(report('a')), { fired: true, results: { 'alert-webhook': false } });
    assert.ok(Date.now() - started < 2000);
  } finally {
    flaky.server.close();
    rejecting.server.close();
    hung.closeAllConnections();
    hung.close();
  }
});

test('wired to the live monitor: drifted windows alert once per cool-down', async () => {
  const { LiveDriftMonitor } = await import('./live-drift-monitor.js');
  const { buildProfile } = await import('./reference-profile.js');
  let seed = 42;
  const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const features = 8;
  const profile = buildProfile(
    Array.from({ length: 1000 }, () => Array.from({ length: features }, normal)),
    { model: 'm', version: '1', inputNames: Array.from({ length: features }, (_, j) => `x[${j}]`) },
  );
  const hook = await receiver();
  let now = 0;
  const alerts = new DriftAlerts({ alertWebhook: hook.url, cooldownMs: 60_000, now: () => now });
  const monitor = new LiveDriftMonitor({ models: { m: { profile } }, windowRows: 200, now: () => now, onReport: (r) => void alerts.handle(r) });
  const window = () => {
    const data = Float32Array.from({ length: 200 * features }, (_, i) => normal() + (i % features < 4 ? 1 : 0));
    monitor.observe('m', '1', [{ name: 'x', datatype: 'FP32', shape: [200, features], data }]);
  };
  try {
    for (const at of [0, 10_000, 50_000, 61_000]) {
      now = at;
      window();
      await monitor.idle();
    }
    await alerts.idle();
    assert.equal(monitor.latest('m')[0]!.window.index, 4);
    assert.equal(hook.received.length, 2);
    const body = hook.received[1]!.body as { model: string; version: string; datasetDrift: boolean; window: { index: number }; inputs: unknown[] };
    assert.deepEqual([body.model, body.version, body.datasetDrift, body.window.index, body.inputs.length], ['m', '1', true, 4, features]);
  } finally {
    await monitor.close();
    hook.server.close();
  }
});
