/**
 * Warm-up requests built from samples, for what the example models do not cover: TYPE_STRING
 * inputs from a length-prefixed file (and refused when the file is cut short or too long), random
 * data of each kind, and zeros for a model that does not batch. Each call to inputs() gives new
 * buffers, since a run may move them to the instance's thread.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isModelportError, type ModelConfig, type ModelWarmup } from '../core/index.js';
import { warmupRequests } from './warmup-requests.js';

const modelDir = mkdtempSync(join(tmpdir(), 'modelport-warmup-requests-'));
mkdirSync(join(modelDir, 'warmup'));
after(() => rmSync(modelDir, { recursive: true, force: true }));

function config(maxBatchSize: number, inputs: ModelConfig['input'], samples: ModelWarmup[]): ModelConfig {
  return { name: 'm', max_batch_size: maxBatchSize, input: inputs, output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }], model_warmup: samples };
}

/** 4-byte little-endian length, then the bytes, per element. */
function lengthPrefixed(elements: string[]): Buffer {
  return Buffer.concat(elements.flatMap((text) => {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(Buffer.byteLength(text));
    return [length, Buffer.from(text)];
  }));
}

test('TYPE_STRING inputs come from a length-prefixed file, repeated over the batch', async () => {
  writeFileSync(join(modelDir, 'warmup', 'words'), lengthPrefixed(['héllo', '', 'world']));
  const [request] = await warmupRequests(
    config(4, [{ name: 's', data_type: 'TYPE_STRING', dims: [3] }], [{ name: 'words', batch_size: 2, count: 0, inputs: { s: { data_type: 'TYPE_STRING', dims: [3], input_data_file: 'words' } } }]),
    modelDir,
  );
  assert.equal(request!.label, "warm-up sample 'words'");
  assert.equal(request!.runs, 1, 'count 0 runs once');
  const [tensor] = request!.inputs();
  assert.deepEqual(tensor!.shape, [2, 3]);
  assert.deepEqual((tensor!.data as Uint8Array[]).map((e) => Buffer.from(e).toString()), ['héllo', '', 'world', 'héllo', '', 'world']);
  assert.notEqual(request!.inputs()[0]!.data, tensor!.data, 'every call builds new buffers');

  for (const [bytes, pattern] of [
    [lengthPrefixed(['ab', 'cd']), /ends after 2 of 3 elements/],
    [Buffer.concat([lengthPrefixed(['ab', 'cd']), Buffer.from([9, 0, 0, 0, 1])]), /element 2 says 9 bytes, but only 1 remain/],
    [lengthPrefixed(['a', 'b', 'c', 'd']), /has 5 bytes after its 3 elements/],
  ] as const) {
    writeFileSync(join(modelDir, 'warmup', 'words'), bytes);
    await assert.rejects(
      warmupRequests(config(4, [{ name: 's', data_type: 'TYPE_STRING', dims: [3] }], [{ name: '', batch_size: 1, count: 0, inputs: { s: { data_type: 'TYPE_STRING', dims: [3], input_data_file: 'words' } } }]), modelDir),
      (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_MODEL_CONFIG' && /warm-up sample 0: input 's': input_data_file/.test(error.message) && pattern.test(error.message),
    );
  }
});

test('random data of each kind stays in its range; strings fall back to empty elements', async () => {
  const kinds = ['TYPE_FP32', 'TYPE_FP16', 'TYPE_INT64', 'TYPE_UINT8', 'TYPE_BOOL', 'TYPE_STRING', 'TYPE_BF16'];
  // Many values, so that one rounding up to 1 (a half just under 1) would show.
  const inputs = kinds.map((data_type, i) => ({ name: `x${i}`, data_type, dims: [20000] }));
  const [request] = await warmupRequests(
    config(0, inputs, [{ name: '', batch_size: 1, count: 3, inputs: Object.fromEntries(inputs.map((input) => [input.name, { data_type: input.data_type, dims: [20000], random_data: true }])) }]),
    modelDir,
  );
  assert.equal(request!.runs, 3);
  const [fp32, fp16, int64, uint8, bool, text, bf16] = request!.inputs();
  assert.deepEqual(fp32!.shape, [20000], 'no batch dimension for a model that does not batch');
  assert.ok([...(fp32!.data as Float32Array)].every((v) => v >= 0 && v < 1));
  assert.ok(new Set(fp32!.data as Float32Array).size > 1, 'random, not constant');
  assert.ok([...(fp16!.data as Uint16Array)].every((bits) => bits < 0x3c00), 'FP16 bit patterns of values below 1');
  assert.ok([...(bf16!.data as Uint16Array)].every((bits) => bits < 0x3f80), 'bfloat16 bit patterns of values below 1');
  assert.ok([...(int64!.data as BigInt64Array)].every((v) => v >= 0n && v < 128n));
  assert.ok([...(uint8!.data as Uint8Array)].every((v) => v < 128));
  assert.ok([...(bool!.data as Uint8Array)].every((v) => v === 0 || v === 1));
  assert.deepEqual(text!.data, Array.from({ length: 20000 }, () => new Uint8Array(0)));
});

test('an optional input may be left out; a batch_size other than 1 or an outsized input is refused', async () => {
  const inputs = [{ name: 'x', data_type: 'TYPE_INT32', dims: [2] }, { name: 'mask', data_type: 'TYPE_BOOL', dims: [2], optional: true }];
  const [request] = await warmupRequests(config(0, inputs, [{ name: '', batch_size: 1, count: 0, inputs: { x: { data_type: 'TYPE_INT32', dims: [2], zero_data: true } } }]), modelDir);
  assert.deepEqual(request!.inputs(), [{ name: 'x', datatype: 'INT32', shape: [2], data: new Int32Array(2) }]);
  await assert.rejects(
    warmupRequests(config(0, inputs, [{ name: 'b', batch_size: 2, count: 0, inputs: { x: { data_type: 'TYPE_INT32', dims: [2], zero_data: true } } }]), modelDir),
    /warm-up sample 'b': batch_size must be 1 for a model that does not batch \(max_batch_size 0\), got 2/,
  );
  await assert.rejects(
    warmupRequests(config(0, [{ name: 'x', data_type: 'TYPE_INT32', dims: [-1, -1] }], [{ name: '', batch_size: 1, count: 0, inputs: { x: { data_type: 'TYPE_INT32', dims: [100000, 100000], zero_data: true } } }]), modelDir),
    /input 'x' would hold 10000000000 elements; a warm-up input holds at most 67108864/,
  );
});
