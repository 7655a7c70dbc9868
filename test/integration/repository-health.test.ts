/**
 * A repository with broken models beside good ones: a bad config, a corrupt .onnx, a missing
 * .onnx and a config that contradicts the model file. The good model serves; each broken one is
 * UNAVAILABLE with its reason in the repository index; explicit load/unload work over REST.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { getJson, postJson } from '../fixtures/v2-client.js';

let root: string;

function addModel(name: string, files: Record<string, string | Buffer>): void {
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, name, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, content);
  }
}

before(async () => {
  await prepareExamples();
  root = mkdtempSync(join(tmpdir(), 'modelport-repo-'));
  mkdirSync(join(root, 'good', '1'), { recursive: true });
  copyFileSync(join(examplesDir, 'mlp', '1', 'model.onnx'), join(root, 'good', '1', 'model.onnx'));
  // No config: completed from the ONNX file (leading dynamic dims → batchable).
  addModel('bad_config', { 'config.json': '{"max_batch_size": "lots",', '1/model.onnx': Buffer.alloc(0) });
  addModel('corrupt', { '1/model.onnx': Buffer.from('this is not an onnx file at all') });
  addModel('missing_file', { 'config.json': JSON.stringify({ max_batch_size: 0 }), '1/README': 'no model here' });
  mkdirSync(join(root, 'mismatch', '1'), { recursive: true });
  copyFileSync(join(examplesDir, 'mlp', '1', 'model.onnx'), join(root, 'mismatch', '1', 'model.onnx'));
  writeFileSync(join(root, 'mismatch', 'config.json'), JSON.stringify({
    max_batch_size: 8,
    input: [{ name: 'input', data_type: 'TYPE_INT32', dims: [256] }],
    output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [10] }],
  }));
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('broken models never stop the good ones', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model-repository', root, '--strict-readiness', 'false']);
  });
  after(async () => {
    await server.stop();
  });

  test('the index shows each broken model UNAVAILABLE with its reason', async () => {
    const { json } = await postJson(`${server.url}/v2/repository/index`, {});
    const index = json as unknown as Array<{ name: string; version?: string; state: string; reason?: string }>;
    const byName = new Map(index.map((e) => [e.name, e]));
    assert.equal(byName.get('good')!.state, 'READY');
    for (const name of ['bad_config', 'corrupt', 'missing_file', 'mismatch']) {
      const entry = byName.get(name);
      assert.ok(entry, name);
      assert.equal(entry.state, 'UNAVAILABLE', name);
      assert.ok(entry.reason && entry.reason.length > 5, `${name} has a reason`);
    }
    assert.match(byName.get('bad_config')!.reason!, /config/i);
    assert.match(byName.get('mismatch')!.reason!, /TYPE_INT32|INT32|datatype/i);
  });

  test('the auto-completed model serves', async () => {
    const metadata = await getJson(`${server.url}/v2/models/good`);
    assert.deepEqual((metadata.json!.inputs as unknown[])[0], { name: 'input', datatype: 'FP32', shape: [-1, 256] });
    const response = await postJson(`${server.url}/v2/models/good/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: new Array(256).fill(0.1) }] });
    assert.equal(response.status, 200, response.text);
  });

  test('inference on a broken model says why', async () => {
    const response = await postJson(`${server.url}/v2/models/corrupt/infer`, { inputs: [] });
    assert.ok(response.status >= 400 && response.status < 600);
    assert.match((response.json as { error: string }).error, /corrupt|no available versions/);
  });

  test('load and unload are refused outside explicit mode', async () => {
    const response = await postJson(`${server.url}/v2/repository/models/good/unload`, {});
    assert.ok(response.status >= 400 && response.status < 600);
    assert.match((response.json as { error: string }).error, /explicit/);
  });
});

describe('explicit model control', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model-repository', root, '--model-control-mode', 'explicit']);
  });
  after(async () => {
    await server.stop();
  });

  test('nothing loads until asked; load, infer, unload', async () => {
    const before = await postJson(`${server.url}/v2/repository/index`, { ready: true });
    assert.deepEqual(before.json, []);
    const load = await postJson(`${server.url}/v2/repository/models/good/load`, {});
    assert.equal(load.status, 200, load.text);
    assert.equal(load.text, '');
    assert.equal((await fetch(`${server.url}/v2/models/good/ready`)).status, 200);
    const infer = await postJson(`${server.url}/v2/models/good/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: new Array(256).fill(0.1) }] });
    assert.equal(infer.status, 200);
    const unload = await postJson(`${server.url}/v2/repository/models/good/unload`, {});
    assert.equal(unload.status, 200);
    assert.equal((await fetch(`${server.url}/v2/models/good/ready`)).status, 400);
  });

  test('loading a broken model fails with its reason', async () => {
    const load = await postJson(`${server.url}/v2/repository/models/corrupt/load`, {});
    assert.ok(load.status >= 400, load.text);
    assert.ok((load.json as { error: string }).error.length > 0);
  });

  test('a config passed with load overrides the file', async () => {
    const config = JSON.stringify({ name: 'mismatch', max_batch_size: 4, input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [256] }], output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [10] }] });
    const load = await postJson(`${server.url}/v2/repository/models/mismatch/load`, { parameters: { config } });
    assert.equal(load.status, 200, load.text);
    const cfg = await getJson(`${server.url}/v2/models/mismatch/config`);
    assert.equal(cfg.json!.max_batch_size, 4);
  });

  test('names that try to leave the repository are refused', async () => {
    const response = await postJson(`${server.url}/v2/repository/models/..%2F..%2Fetc/load`, {});
    assert.ok(response.status >= 400 && response.status < 500, response.text);
  });
});

describe('poll mode', () => {
  test('a model folder added while serving is loaded, one removed is unloaded', async () => {
    const pollRoot = mkdtempSync(join(tmpdir(), 'modelport-poll-'));
    const server = await startServer(['--model-repository', pollRoot, '--model-control-mode', 'poll', '--repository-poll-secs', '0.2']);
    try {
      assert.deepEqual((await postJson(`${server.url}/v2/repository/index`, {})).json, []);
      mkdirSync(join(pollRoot, 'late', '1'), { recursive: true });
      copyFileSync(join(examplesDir, 'mlp', '1', 'model.onnx'), join(pollRoot, 'late', '1', 'model.onnx'));
      const ready = await waitFor(async () => (await fetch(`${server.url}/v2/models/late/ready`)).status === 200);
      assert.ok(ready, 'the new model became ready');
      rmSync(join(pollRoot, 'late'), { recursive: true, force: true });
      const gone = await waitFor(async () => (await fetch(`${server.url}/v2/models/late/ready`)).status !== 200);
      assert.ok(gone, 'the removed model stopped serving');
    } finally {
      await server.stop();
      rmSync(pollRoot, { recursive: true, force: true });
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
