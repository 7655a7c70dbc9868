import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelportError, type InferenceRequest, type ModelConfig, type Tensor } from '../core/index.js';
import { validateRequest } from './request-validator.js';

const config: ModelConfig = {
  name: 'm',
  max_batch_size: 8,
  input: [
    { name: 'a', data_type: 'TYPE_FP32', dims: [4] },
    { name: 'b', data_type: 'TYPE_INT64', dims: [-1] },
    { name: 'opt', data_type: 'TYPE_FP32', dims: [1], optional: true },
  ],
  output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [2] }, { name: 'z', data_type: 'TYPE_FP32', dims: [1] }],
};

const a = (batch: number, width = 4): Tensor => ({ name: 'a', datatype: 'FP32', shape: [batch, width], data: new Float32Array(batch * width) });
const b = (batch: number, len = 3): Tensor => ({ name: 'b', datatype: 'INT64', shape: [batch, len], data: new BigInt64Array(batch * len) });
const request = (inputs: Tensor[], extra: Partial<InferenceRequest> = {}): InferenceRequest => ({ modelName: 'm', inputs, ...extra });

function rejects(req: InferenceRequest, code: string, message: RegExp, cfg = config): void {
  assert.throws(() => validateRequest(req, cfg), (error: unknown) => {
    assert.ok(error instanceof ModelportError);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

test('orders inputs as the model declares them and defaults to every output', () => {
  const result = validateRequest(request([b(2), a(2)]), config);
  assert.deepEqual(result.inputs.map((t) => t.name), ['a', 'b']);
  assert.deepEqual(result.outputNames, ['y', 'z']);
  assert.equal(result.batchSize, 2);
});

test('requested outputs keep their order, duplicates dropped', () => {
  const result = validateRequest(request([a(1), b(1)], { outputs: [{ name: 'z' }, { name: 'y' }, { name: 'z' }] }), config);
  assert.deepEqual(result.outputNames, ['z', 'y']);
});

test('rejects what does not match the signature, naming it', () => {
  rejects(request([a(1)]), 'MP_ERR_INPUT_MISSING', /missing input 'b'/);
  rejects(request([a(1), b(1), { name: 'c', datatype: 'FP32', shape: [1], data: new Float32Array(1) }]), 'MP_ERR_INPUT_UNKNOWN', /unexpected inference input 'c'/);
  rejects(request([a(1), a(1), b(1)]), 'MP_ERR_INPUT_DUPLICATE', /more than once/);
  rejects(request([{ ...a(1), datatype: 'FP64', data: new Float64Array(4) }, b(1)]), 'MP_ERR_INPUT_DATATYPE', /FP64, expected FP32/);
  rejects(request([a(1, 5), b(1)]), 'MP_ERR_INPUT_SHAPE', /Expected \[-1,4\], got \[1,5\]/);
  rejects(request([{ ...a(1), shape: [4] }, b(1)]), 'MP_ERR_INPUT_SHAPE', /Expected \[-1,4\]/);
  rejects(request([a(9), b(9)]), 'MP_ERR_INPUT_SHAPE', /batch-size must be <= 8/);
  rejects(request([a(0, 4), b(0)]), 'MP_ERR_INPUT_SHAPE', /at least 1/);
  rejects(request([a(2), b(3)]), 'MP_ERR_INPUT_SHAPE', /batch size 3 but other inputs have 2/);
  rejects(request([{ ...a(1), shape: [1, -4] }, b(1)]), 'MP_ERR_INPUT_SHAPE', /non-negative/);
  rejects(request([{ ...a(2), data: new Float32Array(7) }, b(2)]), 'MP_ERR_INPUT_DATA', /7 elements but its shape \[2,4\] needs 8/);
  rejects(request([a(1), b(1)], { outputs: [{ name: 'nope' }] }), 'MP_ERR_OUTPUT_UNKNOWN', /unexpected inference output 'nope'/);
  rejects(request([a(1), b(1)], { outputs: [{ name: 'y', parameters: { classification: 3 } }] }), 'MP_ERR_REQUEST_PARAMETER', /classification/);
});

test('non-batching models take the full shape, scalars included', () => {
  const scalar: ModelConfig = { name: 's', max_batch_size: 0, input: [{ name: 'sr', data_type: 'TYPE_INT64', dims: [] }], output: [{ name: 'o', data_type: 'TYPE_FP32', dims: [1] }] };
  const ok = validateRequest({ modelName: 's', inputs: [{ name: 'sr', datatype: 'INT64', shape: [], data: new BigInt64Array([16000n]) }] }, scalar);
  assert.equal(ok.batchSize, 1);
  rejects({ modelName: 's', inputs: [{ name: 'sr', datatype: 'INT64', shape: [1], data: new BigInt64Array(1) }] }, 'MP_ERR_INPUT_SHAPE', /Expected \[\], got \[1\]/, scalar);
});

test('an empty variable dimension is refused: onnxruntime does not survive every empty tensor', () => {
  const loose: ModelConfig = { name: 'v', max_batch_size: 0, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 3] }], output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }] };
  const empty: Tensor = { name: 'x', datatype: 'FP32', shape: [0, 3], data: new Float32Array(0) };
  rejects(request([empty], { modelName: 'v' }), 'MP_ERR_INPUT_SHAPE', /input 'x' of model 'v' is empty: shape \[0,3\] has 0 in dimension 0, which the model leaves variable/, loose);
  assert.equal(validateRequest(request([{ ...empty, shape: [1, 3], data: new Float32Array(3) }], { modelName: 'v' }), loose).inputs.length, 1);
});
