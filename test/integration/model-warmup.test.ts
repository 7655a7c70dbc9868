/**
 * model_warmup with onnxruntime on the example models: the voice-activity model, which refuses
 * generated zeros (its sample rate input must be 8000 or 16000), loads warm and quiet from its
 * configuration's sample (the rate read from warmup/sr_16000); a sample the model refuses fails
 * the load with onnxruntime's reason, and the version never serves. On the MLP, a random batch of
 * four run twice on each of two instances stays out of the execution statistics.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Logger, Tensor } from '../../src/core/index.js';
import { FolderRepository } from '../../src/repository/index.js';
import { OnnxRuntime } from '../../src/runtime/index.js';
import type { ExecutionRecord } from '../../src/scheduler/index.js';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { examplesDir as examples } from '../fixtures/server-process.js';

const root = mkdtempSync(join(tmpdir(), 'modelport-warmup-'));
before(() => prepareExamples());
after(() => rmSync(root, { recursive: true, force: true }));

/** A logger that keeps warnings and errors. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (a: unknown, b?: string): void => void lines.push(typeof a === 'string' ? a : (b ?? ''));
  const logger = { lines, trace: () => {}, debug: () => {}, info: () => {}, warn: keep, error: keep, child: () => logger };
  return logger as unknown as Logger & { lines: string[] };
}

/** A repository folder holding a copy of one example model, its configuration changed by `edit`. */
function repositoryWith(model: string, edit: (config: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(root, 'repo-'));
  cpSync(join(examples, model), join(dir, model), { recursive: true });
  const path = join(dir, model, 'config.json');
  const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(config);
  writeFileSync(path, JSON.stringify(config));
  return dir;
}

/** An onnxruntime whose instances count their runs by instance name, and keep each run's input shapes. */
function countingRuntime(logger: Logger): { runtime: OnnxRuntime; runs: Map<string, number>; shapes: string[]; firstInputs: unknown[][] } {
  const runtime = new OnnxRuntime({ logger });
  const runs = new Map<string, number>();
  const shapes: string[] = [];
  const firstInputs: unknown[][] = [];
  const createInstance = runtime.createInstance.bind(runtime);
  runtime.createInstance = async (options) => {
    const instance = await createInstance(options);
    const run = instance.run.bind(instance);
    instance.run = (inputs, outputNames) => {
      runs.set(instance.name, (runs.get(instance.name) ?? 0) + 1);
      shapes.push(inputs.map((input) => `${input.name}[${input.shape.join(',')}]`).join(' '));
      // Copied now: the run may hand the buffer to the instance's thread.
      firstInputs.push(Array.from(inputs[0]!.data as ArrayLike<unknown>));
      return run(inputs, outputNames);
    };
    return instance;
  };
  return { runtime, runs, shapes, firstInputs };
}

let repository: FolderRepository | undefined;
afterEach(async () => {
  await repository?.stop();
  repository = undefined;
});

describe('model_warmup on onnxruntime', () => {
  it('warms the voice-activity model with its sample and serves it, with nothing logged', async () => {
    const logger = recordingLogger();
    const { runtime, runs, shapes } = countingRuntime(logger);
    repository = new FolderRepository({ root: repositoryWith('vad', () => {}), runtime, controlMode: 'none', cpuCount: 2, logger });
    await repository.start();
    const version = repository.model('vad')!.versions[0]!;
    assert.equal(version.state, 'READY', version.reason);
    assert.deepEqual(logger.lines, []);
    assert.deepEqual([...runs], [['vad_1_0', 1]], 'the sample ran once before the version was ready');
    assert.deepEqual(shapes, ['input[1,512] state[2,1,128] sr[]']);
    const inputs: Tensor[] = [
      { name: 'input', datatype: 'FP32', shape: [1, 512], data: new Float32Array(512).map((_, i) => Math.sin(i / 8) * 0.3) },
      { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: new Float32Array(256) },
      { name: 'sr', datatype: 'INT64', shape: [], data: new BigInt64Array([16000n]) },
    ];
    const result = await version.scheduler!.enqueue({ inputs, outputNames: ['output', 'stateN'], batchSize: 1 });
    assert.deepEqual(result.outputs[0]!.shape, [1, 1]);
  });

  it('without the sample, the generated zeros are refused and only warned about', async () => {
    const logger = recordingLogger();
    const dir = repositoryWith('vad', (config) => delete config.model_warmup);
    repository = new FolderRepository({ root: dir, runtime: new OnnxRuntime({ logger }), controlMode: 'none', cpuCount: 2, logger });
    await repository.start();
    assert.equal(repository.model('vad')!.versions[0]!.state, 'READY');
    assert.equal(logger.lines.length, 1, logger.lines.join('\n'));
    assert.match(logger.lines[0]!, /warm-up inference of model 'vad' version 1 failed/);
  });

  it('fails the load when the model refuses a sample, naming the sample and the reason', async () => {
    const logger = recordingLogger();
    const dir = repositoryWith('vad', (config) => {
      const [sample] = config.model_warmup as Array<{ inputs: Record<string, unknown> }>;
      sample!.inputs.input = { data_type: 'TYPE_FP32', dims: [1, 1], zero_data: true };
    });
    repository = new FolderRepository({ root: dir, runtime: new OnnxRuntime({ logger }), controlMode: 'none', cpuCount: 2, logger });
    await repository.start();
    const version = repository.model('vad')!.versions[0]!;
    assert.equal(version.state, 'UNAVAILABLE');
    assert.match(version.reason, /warm-up sample 'one 32 ms window of silence at 16 kHz' failed on instance 'vad_1_0': .*Pad/);
    assert.equal(version.scheduler, undefined);
  });

  it('runs each sample count times on every instance, outside the execution statistics', async () => {
    const executions: ExecutionRecord[] = [];
    const dir = repositoryWith('mlp', (config) => {
      config.instance_group = [{ count: 2, kind: 'KIND_CPU' }];
      config.model_warmup = [{ name: 'random rows', batch_size: 4, count: 2, inputs: { input: { data_type: 'TYPE_FP32', dims: [256], random_data: true } } }];
    });
    const logger = recordingLogger();
    const { runtime, runs, shapes } = countingRuntime(logger);
    repository = new FolderRepository({ root: dir, runtime, controlMode: 'none', cpuCount: 2, logger, onExecution: (_m, _v, record) => executions.push(record) });
    await repository.start();
    const version = repository.model('mlp')!.versions[0]!;
    assert.equal(version.state, 'READY', version.reason);
    assert.deepEqual(logger.lines, []);
    assert.deepEqual([...runs].sort(), [['mlp_1_0', 2], ['mlp_1_1', 2]], 'count 2: twice on each instance');
    assert.deepEqual(shapes, Array(4).fill('input[4,256]'), 'the sample is repeated over batch_size');
    assert.equal(executions.length, 0, 'warm-up runs are not executions clients asked for');
    assert.deepEqual(version.config.model_warmup, [{ name: 'random rows', batch_size: 4, count: 2, inputs: { input: { data_type: 'TYPE_FP32', dims: [256], random_data: true } } }]);
    const rows: Tensor[] = [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: new Float32Array(256) }];
    await version.scheduler!.enqueue({ inputs: rows, outputNames: ['output'], batchSize: 1 });
    assert.equal(executions.length, 1);
  });

  it('refuses a sample that does not fit the model before creating any instance', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ inputs: { input: { data_type: 'TYPE_FP32', dims: [255], zero_data: true } } }, /input 'input' has dims \[255\], which do not fit the model's \[256\]/],
      [{ inputs: { input: { data_type: 'TYPE_FP64', dims: [256], zero_data: true } } }, /data_type TYPE_FP64, but the model's is TYPE_FP32/],
      [{ inputs: {} }, /input 'input' is missing/],
      [{ batch_size: 200, inputs: { input: { data_type: 'TYPE_FP32', dims: [256], zero_data: true } } }, /batch_size 200 is larger than max_batch_size 128/],
      [{ inputs: { input: { data_type: 'TYPE_FP32', dims: [256], input_data_file: 'rows.bin' } } }, /cannot read input_data_file 'warmup\/rows\.bin'/],
      [{ inputs: { input: { data_type: 'TYPE_FP32', dims: [256], zero_data: true }, extra: { data_type: 'TYPE_FP32', dims: [1], zero_data: true } } }, /input 'extra' is not an input of the model/],
    ];
    for (const [sample, pattern] of cases) {
      const logger = recordingLogger();
      const runtime = new OnnxRuntime({ logger });
      let created = 0;
      const createInstance = runtime.createInstance.bind(runtime);
      runtime.createInstance = (options) => (created++, createInstance(options));
      repository = new FolderRepository({ root: repositoryWith('mlp', (config) => (config.model_warmup = [sample])), runtime, controlMode: 'none', cpuCount: 2, logger });
      await repository.start();
      const version = repository.model('mlp')!.versions[0]!;
      assert.equal(version.state, 'UNAVAILABLE', JSON.stringify(sample));
      assert.match(version.reason, pattern);
      assert.equal(created, 0, 'no instance was created for a sample that cannot be built');
      await repository.stop();
      repository = undefined;
    }
  });

  it('reads raw row-major bytes from warmup/, repeated over the batch, and checks their size', async () => {
    const dir = repositoryWith('mlp', (config) => {
      config.model_warmup = [{ batch_size: 3, inputs: { input: { data_type: 'TYPE_FP32', dims: [256], input_data_file: 'row.bin' } } }];
    });
    mkdirSync(join(dir, 'mlp', 'warmup'));
    const row = new Float32Array(256).map((_, i) => i / 4 - 3);
    writeFileSync(join(dir, 'mlp', 'warmup', 'row.bin'), new Uint8Array(row.buffer));
    const logger = recordingLogger();
    const { runtime, firstInputs } = countingRuntime(logger);
    repository = new FolderRepository({ root: dir, runtime, controlMode: 'none', cpuCount: 2, logger });
    await repository.start();
    assert.equal(repository.model('mlp')!.versions[0]!.state, 'READY', repository.model('mlp')!.versions[0]!.reason);
    assert.deepEqual(firstInputs, [[...row, ...row, ...row]], 'the file\'s row, three times over');
    await repository.stop();

    writeFileSync(join(dir, 'mlp', 'warmup', 'row.bin'), new Uint8Array(1000));
    repository = new FolderRepository({ root: dir, runtime: new OnnxRuntime({ logger }), controlMode: 'none', cpuCount: 2, logger });
    await repository.start();
    assert.match(repository.model('mlp')!.versions[0]!.reason, /input_data_file holds 1000 bytes, expected 1024 \(256 elements of FP32\)/);
  });
});
