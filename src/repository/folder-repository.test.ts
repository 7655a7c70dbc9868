/**
 * Tests of the folder repository against a fake runtime in temporary folders: loading beside
 * broken models, version policies, instance sizing, the three control modes, reloads that never
 * leave a model unavailable (and keep the old versions when the new load fails), serialised
 * load/unload, polling for added, changed and removed models, and shutdown.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isModelportError, type ErrorCode, type Tensor } from '../core/index.js';
import type { ExecutionRecord } from '../scheduler/index.js';
import { FakeRuntime, type FakeModelFile } from './fake-runtime.js';
import { FolderRepository } from './folder-repository.js';
import type { ModelControlMode, ModelEntry, RepositoryOptions } from './types.js';

const batchable: FakeModelFile = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
};
const notBatchable: FakeModelFile = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [3] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [3] }],
};

let root: string;
let runtime: FakeRuntime;
let repository: FolderRepository | undefined;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'modelport-repository-'));
  runtime = new FakeRuntime();
});

afterEach(async () => {
  await repository?.stop();
  repository = undefined;
  rmSync(root, { recursive: true, force: true });
});

function write(path: string, content: string | FakeModelFile | object): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  const text = typeof content === 'string' ? content : JSON.stringify(content);
  writeFileSync(file, text);
}

function create(controlMode: ModelControlMode, options: Partial<RepositoryOptions> = {}): FolderRepository {
  repository = new FolderRepository({ root, runtime, controlMode, cpuCount: 8, ...options });
  return repository;
}

function model(name: string): ModelEntry {
  const entry = repository!.model(name);
  assert.ok(entry, `model '${name}' is listed`);
  return entry;
}

function states(name: string): string[] {
  return model(name).versions.map((v) => `${v.version}:${v.state}`);
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isModelportError(error), String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

function input(rows: number): Tensor[] {
  return [{ name: 'x', datatype: 'FP32', shape: [rows, 2], data: new Float32Array(rows * 2).fill(1) }];
}

describe('loading a repository', () => {
  it('serves the good models and lists each broken one UNAVAILABLE with its reason', async () => {
    write('good/1/model.onnx', batchable);
    write('good/config.json', { max_batch_size: 8 });
    write('auto/1/model.onnx', notBatchable);
    write('bad_config/config.json', '{"max_batch_size": "lots",');
    write('bad_config/1/model.onnx', batchable);
    write('corrupt/1/model.onnx', 'not a model');
    write('missing_file/config.json', { max_batch_size: 0 });
    write('missing_file/1/README', 'no model here');
    write('mismatch/config.json', { input: [{ name: 'x', data_type: 'TYPE_INT32' }] });
    write('mismatch/1/model.onnx', batchable);
    write('no_versions/config.json', {});
    write('failing_instance/1/model.onnx', { ...batchable, failInstance: 'session creation failed' });
    write('bad name/1/model.onnx', batchable);
    write('README.md', 'not a model');
    const repo = create('none');
    await repo.start();

    assert.deepEqual(
      repo.models().map((m) => m.name),
      ['auto', 'bad_config', 'corrupt', 'failing_instance', 'good', 'mismatch', 'missing_file', 'no_versions'],
    );
    assert.deepEqual(states('good'), ['1:READY']);
    assert.equal(model('good').state, 'READY');
    assert.ok(model('good').versions[0]!.scheduler);
    assert.equal(model('auto').versions[0]!.config.max_batch_size, 0);

    assert.equal(model('bad_config').state, 'UNAVAILABLE');
    assert.deepEqual(model('bad_config').versions, []);
    assert.match(model('bad_config').reason, /config\.json is not valid JSON/);
    assert.equal(model('no_versions').state, 'UNAVAILABLE');
    assert.match(model('no_versions').reason, /has no version folder; expected numeric folders such as 'no_versions\/1' holding 'model\.onnx'/);

    const reason = (name: string) => {
      assert.deepEqual(states(name), ['1:UNAVAILABLE'], name);
      assert.equal(model(name).state, 'UNAVAILABLE');
      assert.equal(model(name).versions[0]!.scheduler, undefined);
      return model(name).versions[0]!.reason;
    };
    assert.match(reason('corrupt'), /not a model file/);
    assert.match(reason('missing_file'), /model file '1\/model\.onnx' of model 'missing_file' not found/);
    assert.match(reason('mismatch'), /input 'x' has data_type TYPE_INT32 in the configuration but TYPE_FP32 in the model/);
    assert.match(reason('failing_instance'), /session creation failed/);
    assert.equal(model('mismatch').reason, reason('mismatch'), 'the model-level reason says why nothing serves');
  });

  it('completes the configuration from the model file and wires the batcher', async () => {
    write('m/1/model.onnx', batchable);
    const executions: Array<[string, number, ExecutionRecord]> = [];
    const repo = create('none', { defaultMaxBatchSize: 16, onExecution: (m, v, r) => executions.push([m, v, r]) });
    await repo.start();
    const version = model('m').versions[0]!;
    assert.equal(version.config.max_batch_size, 16);
    assert.deepEqual(version.config.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }]);
    assert.deepEqual(version.config.dynamic_batching?.preferred_batch_size, []);
    assert.deepEqual(version.signature, { inputs: batchable.inputs, outputs: batchable.outputs });
    assert.deepEqual(model('m').config, version.config);

    const result = await version.scheduler!.enqueue({ inputs: input(3), outputNames: ['y'], batchSize: 3 });
    assert.deepEqual(result.outputs[0]!.shape, [3, 2]);
    assert.equal(result.outputs[0]!.name, 'y');
    assert.equal(executions.length, 1);
    assert.equal(executions[0]![0], 'm');
    assert.equal(executions[0]![1], 1);
    assert.equal(executions[0]![2].batchSize, 3);
  });

  it('loads the versions the policy selects and ignores folders that are not versions', async () => {
    for (const v of ['1', '2', '3', '01', '0', 'old']) write(`latest/${v}/model.onnx`, batchable);
    write('latest/config.json', { version_policy: { latest: { num_versions: 2 } } });
    for (const v of ['1', '2', '3']) write(`all/${v}/model.onnx`, batchable);
    write('all/config.yaml', 'version_policy: { all: {} }\n');
    for (const v of ['1', '2', '3']) write(`specific/${v}/model.onnx`, batchable);
    write('specific/config.json', { version_policy: { specific: { versions: [1, 3, 4] } } });
    write('default/1/model.onnx', batchable);
    write('default/7/model.onnx', batchable);
    const repo = create('none');
    await repo.start();
    assert.deepEqual(states('latest'), ['2:READY', '3:READY']);
    assert.deepEqual(states('all'), ['1:READY', '2:READY', '3:READY']);
    assert.deepEqual(states('specific'), ['1:READY', '3:READY', '4:UNAVAILABLE']);
    assert.match(model('specific').versions[2]!.reason, /names version 4, but there is no folder 'specific\/4'/);
    assert.equal(model('specific').state, 'READY');
    assert.deepEqual(states('default'), ['7:READY']);
  });

  it('uses default_model_filename and sizes instances and their threads from the configuration', async () => {
    write('m/1/net.onnx', batchable);
    write('m/config.json', { default_model_filename: 'net.onnx', instance_group: [{ count: 2 }, { count: 1, kind: 'KIND_AUTO' }] });
    write('pinned/1/model.onnx', batchable);
    write('pinned/config.json', { parameters: { intra_op_thread_count: { string_value: '3' } } });
    await create('none', { cpuCount: 8 }).start();
    const m = runtime.instances.filter((i) => i.options.modelPath.includes(`${join('m', '1')}`));
    assert.deepEqual(m.map((i) => i.name).sort(), ['m_1_0', 'm_1_1', 'm_1_2']);
    assert.deepEqual(m.map((i) => i.options.intraOpThreads), [2, 2, 2], 'floor(8 cores / 3 instances)');
    assert.ok(m[0]!.options.modelPath.endsWith(join('m', '1', 'net.onnx')));
    const pinned = runtime.instances.find((i) => i.name === 'pinned_1_0')!;
    assert.equal(pinned.options.intraOpThreads, 3);
    assert.deepEqual(pinned.options.parameters, { intra_op_thread_count: '3' });
    assert.deepEqual(model('m').config?.instance_group, [
      { name: 'm_0', kind: 'KIND_CPU', count: 2 },
      { name: 'm_1', kind: 'KIND_CPU', count: 1 },
    ]);
  });

  it('runs the instances it is told to, in place of every configuration\'s instance_group', async () => {
    write('m/1/model.onnx', batchable);
    write('m/config.json', { instance_group: [{ count: 3 }] });
    write('bare/1/model.onnx', batchable);
    await create('none', { cpuCount: 4, instances: 2 }).start();
    for (const name of ['m', 'bare']) {
      const made = runtime.instances.filter((i) => i.options.modelPath.includes(join(name, '1')));
      assert.deepEqual(made.map((i) => i.name).sort(), [`${name}_1_0`, `${name}_1_1`]);
      assert.deepEqual(made.map((i) => i.options.intraOpThreads), [2, 2], 'floor(4 cores / 2 instances)');
      assert.deepEqual(model(name).config?.instance_group, [{ name, kind: 'KIND_CPU', count: 2 }]);
    }
  });

  it('closes the instances already created when another one fails', async () => {
    write('m/1/model.onnx', { ...batchable, failInstance: 'no memory', failInstanceIndex: 1 });
    write('m/config.json', { instance_group: [{ count: 3 }] });
    await create('none').start();
    assert.deepEqual(states('m'), ['1:UNAVAILABLE']);
    assert.match(model('m').versions[0]!.reason, /no memory/);
    assert.equal(runtime.instances.length, 2);
    assert.equal(runtime.open.length, 0);
  });
});

describe('control modes none and poll', () => {
  for (const mode of ['none', 'poll'] as const) {
    it(`refuses load and unload in mode '${mode}', saying how to enable explicit mode`, async () => {
      write('m/1/model.onnx', batchable);
      const repo = create(mode, { pollIntervalMs: 60_000 });
      await repo.start();
      await rejectsWith(repo.load('m'), 'MP_ERR_REPOSITORY_CONTROL_MODE', new RegExp(`mode '${mode}'.*--model-control-mode explicit`));
      await rejectsWith(repo.unload('m'), 'MP_ERR_REPOSITORY_CONTROL_MODE', /explicit/);
      assert.deepEqual(states('m'), ['1:READY']);
    });
  }
});

describe('explicit model control', () => {
  it('loads only the startup models and lists the others as known', async () => {
    write('a/1/model.onnx', batchable);
    write('b/1/model.onnx', batchable);
    const repo = create('explicit', { startupModels: ['b', 'ghost', '../x'] });
    await repo.start();
    assert.deepEqual(repo.models().map((m) => `${m.name}:${m.state}`), ['a:UNKNOWN', 'b:READY', 'ghost:UNAVAILABLE']);
    assert.match(model('ghost').reason, /no folder 'ghost'/);
  });

  it("loads everything with '*'", async () => {
    write('a/1/model.onnx', batchable);
    write('b/1/model.onnx', batchable);
    await create('explicit', { startupModels: ['*'] }).start();
    assert.deepEqual(states('a'), ['1:READY']);
    assert.deepEqual(states('b'), ['1:READY']);
  });

  it('loads, unloads and reloads on request', async () => {
    write('m/1/model.onnx', batchable);
    const repo = create('explicit');
    await repo.start();
    assert.deepEqual(states('m'), []);
    await repo.load('m');
    assert.deepEqual(states('m'), ['1:READY']);
    const first = model('m').versions[0]!.scheduler!;

    await repo.load('m');
    assert.equal(model('m').versions[0]!.scheduler, first, 'nothing changed: the loaded version is kept');
    assert.equal(runtime.instances.length, 1);

    await repo.unload('m');
    assert.deepEqual(states('m'), ['1:UNAVAILABLE']);
    assert.equal(model('m').versions[0]!.reason, 'unloaded');
    assert.equal(model('m').versions[0]!.scheduler, undefined);
    assert.equal(model('m').state, 'UNAVAILABLE');
    assert.equal(runtime.open.length, 0);
    await rejectsWith(first.enqueue({ inputs: input(1), outputNames: ['y'], batchSize: 1 }), 'MP_ERR_SERVER_STOPPING', /stopping/);

    await repo.load('m');
    assert.deepEqual(states('m'), ['1:READY']);
    assert.equal(runtime.open.length, 1);
  });

  it('applies a configuration passed with load and refuses an invalid one untouched', async () => {
    write('m/1/model.onnx', batchable);
    write('m/config.json', { max_batch_size: 2 });
    const repo = create('explicit', { startupModels: ['m'] });
    await repo.start();
    assert.equal(model('m').versions[0]!.config.max_batch_size, 2);

    await repo.load('m', { config: JSON.stringify({ name: 'm', max_batch_size: 6, instance_group: [{ count: 2 }] }) });
    assert.equal(model('m').versions[0]!.config.max_batch_size, 6);
    assert.equal(runtime.open.length, 2);

    const before = model('m').versions[0]!.scheduler;
    await rejectsWith(repo.load('m', { config: '{"max_batch_size": 4' }), 'MP_ERR_MODEL_CONFIG', /the load request's config is not valid JSON/);
    await rejectsWith(repo.load('m', { config: '{"max_batch_size": -4}' }), 'MP_ERR_MODEL_CONFIG', /'max_batch_size' must be a non-negative integer/);
    assert.equal(model('m').versions[0]!.scheduler, before);

    await repo.load('m');
    assert.equal(model('m').versions[0]!.config.max_batch_size, 2, 'a load without a config reads the file again');
    assert.equal(runtime.open.length, 1);
  });

  it('rejects unknown models, names outside the rule, and failed loads with the reason', async () => {
    write('broken/1/model.onnx', 'garbage');
    const repo = create('explicit');
    await repo.start();
    await rejectsWith(repo.load('ghost'), 'MP_ERR_MODEL_UNKNOWN', /^Request for unknown model: 'ghost' is not found$/);
    await rejectsWith(repo.unload('ghost'), 'MP_ERR_MODEL_UNKNOWN', /'ghost' is not found/);
    for (const name of ['../x', '..', '.hidden', 'a/b', 'a\\b', '', '/etc']) {
      await rejectsWith(repo.load(name), 'MP_ERR_REPOSITORY_NAME', /invalid model name/);
    }
    await rejectsWith(repo.load('../x', { config: '{}' }), 'MP_ERR_REPOSITORY_NAME', /invalid model name/);
    await rejectsWith(repo.load('broken'), 'MP_ERR_MODEL_LOAD', /failed to load model 'broken': version 1: .*not a model file/);
    assert.deepEqual(states('broken'), ['1:UNAVAILABLE']);
    assert.equal(repo.model('ghost'), undefined);
  });

  it('a load with nothing to load is NOT_FOUND or a bad configuration, not a server failure', async () => {
    write('empty/config.json', { max_batch_size: 0 });
    write('pinned/1/model.onnx', batchable);
    const repo = create('explicit');
    await repo.start();
    await rejectsWith(repo.load('empty'), 'MP_ERR_MODEL_NO_VERSIONS', /model 'empty' has no version folder/);
    await rejectsWith(repo.load('pinned', { config: JSON.stringify({ version_policy: { specific: { versions: [7] } } }) }), 'MP_ERR_MODEL_CONFIG', /failed to load model 'pinned': version 7: the version policy \(specific versions 7\) names version 7, but there is no folder 'pinned\/7'/);
  });

  it('brings the new version to READY before the old one is drained', async () => {
    write('m/1/model.onnx', batchable);
    const repo = create('explicit', { startupModels: ['m'] });
    await repo.start();
    const old = model('m').versions[0]!;
    const oldInstance = runtime.instances[0]!;

    write('m/config.json', { max_batch_size: 3 });
    const release = runtime.hold();
    const reloading = repo.load('m');
    await waitFor(() => runtime.instances.length === 1 && model('m').versions.length === 1, 'the reload to start');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(model('m').versions[0], old, 'the old version is listed while the new one loads');
    assert.equal(old.state, 'READY');
    assert.equal(oldInstance.closed, false);
    assert.ok(await old.scheduler!.enqueue({ inputs: input(1), outputNames: ['y'], batchSize: 1 }), 'and it serves');
    release();
    await reloading;

    const current = model('m').versions[0]!;
    assert.notEqual(current, old);
    assert.equal(current.state, 'READY');
    assert.equal(current.config.max_batch_size, 3);
    assert.equal(old.state, 'UNAVAILABLE');
    assert.equal(oldInstance.closed, true);
    assert.equal(runtime.open.length, 1);
  });

  it('keeps the old versions serving when a reload fails', async () => {
    write('m/1/model.onnx', batchable);
    const repo = create('explicit', { startupModels: ['m'] });
    await repo.start();
    const old = model('m').versions[0]!;

    write('m/1/model.onnx', { ...batchable, failInspect: 'corrupt graph' });
    await rejectsWith(repo.load('m'), 'MP_ERR_MODEL_LOAD', /version 1: corrupt graph/);
    assert.equal(model('m').versions[0], old);
    assert.equal(old.state, 'READY');
    assert.equal(model('m').state, 'READY');
    assert.match(model('m').reason, /reload failed, the previous versions keep serving: .*corrupt graph/);

    write('m/config.json', '{ broken');
    await rejectsWith(repo.load('m'), 'MP_ERR_MODEL_CONFIG', /not valid JSON/);
    assert.equal(model('m').versions[0], old);
    assert.equal(old.state, 'READY');
    assert.equal(runtime.open.length, 1);

    // A new version that fails beside an old one that serves: the failure is in its own entry.
    rmSync(join(root, 'm', 'config.json'));
    write('m/1/model.onnx', batchable);
    write('m/2/model.onnx', { ...batchable, failInstance: 'out of memory' });
    write('m/config.json', { version_policy: { all: {} } });
    await rejectsWith(repo.load('m'), 'MP_ERR_MODEL_LOAD', /version 2: out of memory/);
    assert.deepEqual(states('m'), ['1:READY', '2:UNAVAILABLE']);
    assert.match(model('m').versions[1]!.reason, /out of memory/);
  });

  it('serialises concurrent loads and unloads of one model', async () => {
    write('m/1/model.onnx', batchable);
    const repo = create('explicit');
    await repo.start();
    const order: string[] = [];
    await Promise.all([
      repo.load('m').then(() => order.push('load')),
      repo.unload('m').then(() => order.push('unload')),
      repo.load('m', { config: '{"max_batch_size": 5}' }).then(() => order.push('load with config')),
    ]);
    assert.deepEqual(order, ['load', 'unload', 'load with config']);
    assert.deepEqual(states('m'), ['1:READY']);
    assert.equal(model('m').versions[0]!.config.max_batch_size, 5);
    assert.equal(runtime.instances.length, 2);
    assert.equal(runtime.open.length, 1);
  });
});

describe('poll mode', () => {
  it('loads added models and versions, reloads changed ones, unloads removed ones', async () => {
    write('a/1/model.onnx', batchable);
    const repo = create('poll', { pollIntervalMs: 10 });
    await repo.start();
    assert.deepEqual(states('a'), ['1:READY']);

    write('b/1/model.onnx', notBatchable);
    await waitFor(() => repo.model('b')?.versions[0]?.state === 'READY', 'the added model');
    assert.equal(model('b').versions[0]!.config.max_batch_size, 0);

    write('a/2/model.onnx', batchable);
    await waitFor(() => states('a').join() === '2:READY', 'the new version to replace version 1');
    await waitFor(() => runtime.open.length === 2, 'version 1 to close');

    const before = model('b').versions[0]!;
    write('b/config.json', { instance_group: [{ count: 2 }] });
    await waitFor(() => model('b').versions[0] !== before && model('b').versions[0]!.state === 'READY', 'the changed model to reload');
    assert.equal(before.state, 'UNAVAILABLE');

    rmSync(join(root, 'a'), { recursive: true });
    await waitFor(() => repo.model('a') === undefined, 'the removed model to leave');
    assert.deepEqual(repo.models().map((m) => m.name), ['b']);
    await waitFor(() => runtime.open.length === 2, 'the removed model to close');
    assert.ok(runtime.open.every((i) => i.name.startsWith('b_')));
  });

  it('retries a broken model once it changes', async () => {
    write('m/config.json', '{');
    write('m/1/model.onnx', batchable);
    const repo = create('poll', { pollIntervalMs: 10 });
    await repo.start();
    assert.equal(model('m').state, 'UNAVAILABLE');
    write('m/config.json', '{}');
    await waitFor(() => model('m').state === 'READY', 'the fixed model to load');
  });
});

describe('stop', () => {
  it('drains and closes everything, and refuses control afterwards', async () => {
    write('a/1/model.onnx', batchable);
    write('b/1/model.onnx', batchable);
    write('b/2/model.onnx', batchable);
    write('b/config.json', { version_policy: { all: {} } });
    const repo = create('explicit', { startupModels: ['*'] });
    await repo.start();
    assert.equal(runtime.open.length, 3);
    const scheduler = model('a').versions[0]!.scheduler!;
    const inFlight = scheduler.enqueue({ inputs: input(2), outputNames: ['y'], batchSize: 2 });
    await repo.stop();
    assert.deepEqual((await inFlight).outputs[0]!.shape, [2, 2], 'a request already queued is answered');
    assert.equal(runtime.open.length, 0);
    assert.deepEqual(states('b'), ['1:UNAVAILABLE', '2:UNAVAILABLE']);
    await rejectsWith(repo.load('a'), 'MP_ERR_SERVER_STOPPING', /stopping/);
    await repo.stop();
  });
});
