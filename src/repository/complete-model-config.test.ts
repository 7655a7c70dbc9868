/**
 * Tests of auto-completion from a model's signature (batchable and not, partial configurations,
 * input order), of each way a configuration can contradict the model file, and of normalisation
 * (Triton's defaults, Modelport's choices, idempotence).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isModelportError, type ModelSignature } from '../core/index.js';
import { completeModelConfig, isBatchable } from './complete-model-config.js';
import type { PartialModelConfig } from './model-config-parser.js';
import { instanceCount, normalizeModelConfig, toModelConfig } from './normalize-model-config.js';

const batchable: ModelSignature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 3, -1] },
    { name: 'ids', datatype: 'INT64', shape: [-1] },
  ],
  outputs: [
    { name: 'y', datatype: 'FP32', shape: [-1, 10] },
    { name: 'label', datatype: 'BYTES', shape: [-1, 1] },
  ],
};

const fixed: ModelSignature = {
  inputs: [
    { name: 'input', datatype: 'FP32', shape: [-1, -1] },
    { name: 'state', datatype: 'FP32', shape: [2, -1, 128] },
    { name: 'sr', datatype: 'INT64', shape: [] },
  ],
  outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 1] }],
};

const complete = (config: PartialModelConfig, signature: ModelSignature = batchable, defaultMaxBatchSize = 4) =>
  completeModelConfig(config, signature, { model: 'm', version: 1, defaultMaxBatchSize });

function mismatch(config: PartialModelConfig, pattern: RegExp, signature: ModelSignature = batchable): void {
  assert.throws(
    () => complete(config, signature),
    (error: unknown) => {
      assert.ok(isModelportError(error));
      assert.equal(error.code, 'MP_ERR_MODEL_CONFIG');
      assert.match(error.message, /^model 'm' version 1: the configuration does not match the model file: /);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

const normalizeOptions = { model: 'm', backend: 'onnxruntime', platform: 'onnxruntime_onnx', defaultModelFilename: 'model.onnx' };

describe('completeModelConfig', () => {
  it('makes a model with a dynamic leading dimension everywhere batchable', () => {
    assert.equal(isBatchable(batchable), true);
    const config = complete({});
    assert.equal(config.max_batch_size, 4);
    assert.deepEqual(config.input, [
      { name: 'x', data_type: 'TYPE_FP32', dims: [3, -1] },
      { name: 'ids', data_type: 'TYPE_INT64', dims: [] },
    ]);
    assert.deepEqual(config.output, [
      { name: 'y', data_type: 'TYPE_FP32', dims: [10] },
      { name: 'label', data_type: 'TYPE_STRING', dims: [1] },
    ]);
    assert.equal(complete({}, batchable, 32).max_batch_size, 32, 'the default max batch size is an option');
  });

  it('gives a model without a batch dimension max_batch_size 0 and full shapes', () => {
    assert.equal(isBatchable(fixed), false);
    const config = complete({}, fixed);
    assert.equal(config.max_batch_size, 0);
    assert.deepEqual(config.input.map((t) => t.dims), [[-1, -1], [2, -1, 128], []]);
  });

  it('keeps an explicit max_batch_size 0 on a batchable model, with full shapes', () => {
    const config = complete({ max_batch_size: 0 });
    assert.equal(config.max_batch_size, 0);
    assert.deepEqual(config.input[0]!.dims, [-1, 3, -1]);
  });

  it('completes tensors listed without type or dims, orders inputs as the model does, keeps a subset of outputs', () => {
    const config = complete({
      max_batch_size: 16,
      input: [{ name: 'ids' }, { name: 'x', data_type: 'TYPE_FP32', dims: [3, 224] }],
      output: [{ name: 'label' }],
    });
    assert.equal(config.max_batch_size, 16);
    assert.deepEqual(config.input, [
      { name: 'x', data_type: 'TYPE_FP32', dims: [3, 224] },
      { name: 'ids', data_type: 'TYPE_INT64', dims: [] },
    ]);
    assert.deepEqual(config.output, [{ name: 'label', data_type: 'TYPE_STRING', dims: [1] }]);
  });

  it('names the tensor and the difference when the configuration contradicts the model', () => {
    mismatch({ input: [{ name: 'z' }, { name: 'x' }, { name: 'ids' }] }, /input 'z' is not an input of the model; the model's inputs are 'x', 'ids'/);
    mismatch({ output: [{ name: 'nope' }] }, /output 'nope' is not an output of the model/);
    mismatch({ input: [{ name: 'x', data_type: 'TYPE_INT32' }, { name: 'ids' }] }, /input 'x' has data_type TYPE_INT32 in the configuration but TYPE_FP32 in the model/);
    mismatch({ output: [{ name: 'label', data_type: 'TYPE_UINT8' }] }, /output 'label' has data_type TYPE_UINT8 .* but TYPE_STRING/);
    mismatch(
      { max_batch_size: 8, input: [{ name: 'x', dims: [3] }, { name: 'ids' }] },
      /input 'x' has dims \[3\] in the configuration but the model declares \[-1,3,-1\] \(dims \[3,-1\] without the batch dimension\): expected 2 dimensions, got 1/,
    );
    mismatch({ input: [{ name: 'x', dims: [4, 5] }, { name: 'ids' }] }, /input 'x' has dims \[4,5\].*dimension 0 is 4 but the model accepts only 3/);
    mismatch({ input: [{ name: 'x', dims: [-1, 5] }, { name: 'ids' }] }, /dimension 0 is -1 \(any size\) but the model accepts only 3/);
    mismatch({ input: [{ name: 'x' }] }, /the model's input 'ids' is missing from the configuration/);
    mismatch({ max_batch_size: 4 }, /max_batch_size is 4 but input 'state' has shape \[2,-1,128\] in the model, without a dynamic \(-1\) first dimension/, fixed);
    mismatch({ max_batch_size: 4, input: [{ name: 'input' }, { name: 'state' }, { name: 'sr' }] }, /input 'state'/, fixed);
  });

  it('accepts configured sizes where the model has a dynamic dimension', () => {
    const config = complete({ max_batch_size: 0, input: [{ name: 'input', dims: [1, 512] }, { name: 'state', dims: [2, 1, 128] }, { name: 'sr', dims: [] }] }, fixed);
    assert.deepEqual(config.input.map((t) => t.dims), [[1, 512], [2, 1, 128], []]);
  });
});

describe('normalizeModelConfig', () => {
  it('fills Triton defaults for a configuration without any', () => {
    const config = normalizeModelConfig(complete({}), normalizeOptions);
    assert.equal(config.name, 'm');
    assert.equal(config.backend, 'onnxruntime');
    assert.equal(config.platform, 'onnxruntime_onnx');
    assert.deepEqual(config.version_policy, { latest: { num_versions: 1 } });
    assert.deepEqual(config.instance_group, [{ name: 'm', kind: 'KIND_CPU', count: 1 }]);
    assert.equal(config.default_model_filename, 'model.onnx');
    assert.deepEqual(config.parameters, {});
    assert.deepEqual(config.dynamic_batching, {
      preferred_batch_size: [],
      max_queue_delay_microseconds: 0,
      preserve_ordering: false,
      priority_levels: 0,
      default_priority_level: 0,
      default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: false, max_queue_size: 0 },
    });
    assert.deepEqual(Object.keys(config).slice(0, 5), ['name', 'platform', 'backend', 'version_policy', 'max_batch_size']);
  });

  it('turns dynamic batching on only when more than one item fits a batch', () => {
    assert.equal(normalizeModelConfig({ max_batch_size: 1 }, normalizeOptions).dynamic_batching, undefined);
    assert.equal(normalizeModelConfig({ max_batch_size: 0 }, normalizeOptions).dynamic_batching, undefined);
    assert.equal(normalizeModelConfig({}, normalizeOptions).dynamic_batching, undefined, 'unknown until the model file says');
    assert.deepEqual(normalizeModelConfig({ max_batch_size: 2 }, normalizeOptions).dynamic_batching?.preferred_batch_size, []);
    const kept = normalizeModelConfig({ max_batch_size: 8, dynamic_batching: { preferred_batch_size: [8], max_queue_delay_microseconds: 100, default_queue_policy: { max_queue_size: 5 } } }, normalizeOptions);
    assert.deepEqual(kept.dynamic_batching?.preferred_batch_size, [8]);
    assert.equal(kept.dynamic_batching?.max_queue_delay_microseconds, 100);
    assert.deepEqual(kept.dynamic_batching?.default_queue_policy, { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: false, max_queue_size: 5 });
  });

  it('names unnamed instance groups after the model and their index, KIND_AUTO → KIND_CPU', () => {
    const config = normalizeModelConfig({ instance_group: [{ count: 2 }, { name: 'big', kind: 'KIND_AUTO' }, { kind: 'KIND_CPU', count: 3 }] }, normalizeOptions);
    assert.deepEqual(config.instance_group, [
      { name: 'm_0', kind: 'KIND_CPU', count: 2 },
      { name: 'big', kind: 'KIND_CPU', count: 1 },
      { name: 'm_2', kind: 'KIND_CPU', count: 3 },
    ]);
    assert.equal(instanceCount(config), 6);
    assert.throws(() => normalizeModelConfig({ instance_group: [{ name: 'm_1' }, {}] }, normalizeOptions), /instance_group name 'm_1' is used twice/);
  });

  it('checks preferred batch sizes against a max_batch_size the model file supplied', () => {
    const written: PartialModelConfig = { dynamic_batching: { preferred_batch_size: [8] } };
    const early = normalizeModelConfig(written, normalizeOptions);
    assert.throws(() => normalizeModelConfig(complete(early), normalizeOptions), /'dynamic_batching\.preferred_batch_size\[0\]' must be at most max_batch_size \(4\), got 8/);
  });

  it('is idempotent', () => {
    const once = normalizeModelConfig(complete({ instance_group: [{ count: 2 }] }), normalizeOptions);
    assert.deepEqual(normalizeModelConfig(once, normalizeOptions), once);
  });

  it('shows what is unknown as protobuf defaults for a version the model file could not complete', () => {
    const config = toModelConfig(normalizeModelConfig({ input: [{ name: 'a' }] }, normalizeOptions));
    assert.equal(config.max_batch_size, 0);
    assert.deepEqual(config.input, [{ name: 'a', data_type: 'TYPE_INVALID', dims: [] }]);
    assert.deepEqual(config.output, []);
  });
});
