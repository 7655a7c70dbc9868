/** InferenceResponses to V2 bodies: Triton's key order, binary sections byte-exact, exact 64-bit integers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InferenceResponse, RequestedOutput, Tensor } from '../../core/index.js';
import { encodeInferResponse, type OutputEncoding } from './infer-response-encoder.js';

function encoding(outputs?: RequestedOutput[], binaryOutputs: boolean[] = [], binaryByDefault = false, id?: string): OutputEncoding {
  return { request: { ...(id ? { id } : {}), ...(outputs ? { outputs } : {}) }, binaryOutputs, binaryByDefault };
}

const fp32: Tensor = { name: 'y', datatype: 'FP32', shape: [1, 3], data: new Float32Array([0.5, 1, -2]) };
const int64: Tensor = { name: 'i', datatype: 'INT64', shape: [2], data: new BigInt64Array([2n ** 63n - 1n, -(2n ** 63n)]) };

function response(outputs: Tensor[], extra: Partial<InferenceResponse> = {}): InferenceResponse {
  return { modelName: 'm', modelVersion: '1', outputs, ...extra };
}

test('a JSON answer has Triton\'s key order and exact INT64 digits', () => {
  const { body, headerLength } = encodeInferResponse(response([fp32, int64], { id: 'r1', parameters: { note: 'x', big: 2n ** 64n - 1n } }), encoding());
  assert.equal(headerLength, undefined);
  assert.equal(
    body.toString(),
    '{"id":"r1","model_name":"m","model_version":"1","parameters":{"note":"x","big":18446744073709551615},"outputs":[' +
      '{"name":"y","datatype":"FP32","shape":[1,3],"data":[0.5,1,-2]},' +
      '{"name":"i","datatype":"INT64","shape":[2],"data":[9223372036854775807,-9223372036854775808]}]}',
  );
});

test('id is written only when non-empty; the request id is used when the response has none', () => {
  assert.match(encodeInferResponse(response([]), encoding()).body.toString(), /^\{"model_name":"m","model_version":"1","outputs":\[\]\}$/);
  assert.match(encodeInferResponse(response([]), encoding(undefined, [], false, 'req-9')).body.toString(), /^\{"id":"req-9",/);
  assert.doesNotMatch(encodeInferResponse(response([], { parameters: {} }), encoding()).body.toString(), /parameters/);
});

test('binary outputs: binary_data_size in the JSON, bytes after it in output order, byte-exact', () => {
  const bytes: Tensor = { name: 's', datatype: 'BYTES', shape: [2], data: [Buffer.from('ab'), Buffer.from('')] };
  const { body, headerLength } = encodeInferResponse(
    response([fp32, bytes, int64]),
    encoding([{ name: 'y' }, { name: 's' }, { name: 'i' }], [true, true, false]),
  );
  assert.ok(headerLength !== undefined);
  const header = JSON.parse(body.subarray(0, headerLength).toString()) as { outputs: Array<Record<string, unknown>> };
  assert.deepEqual(header.outputs[0], { name: 'y', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } });
  assert.deepEqual(header.outputs[1], { name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 10 } });
  assert.equal(header.outputs[2]!.data !== undefined, true);
  const expected = Buffer.concat([
    Buffer.from(new Float32Array([0.5, 1, -2]).buffer),
    Buffer.from([2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0]),
  ]);
  assert.deepEqual(body.subarray(headerLength), expected);
  assert.equal(body.length, headerLength + 22);
});

test('listed outputs are binary only with binary_data: true; unlisted follow binary_data_output', () => {
  const z: Tensor = { name: 'z', datatype: 'INT32', shape: [1], data: new Int32Array([5]) };
  // listed without binary_data → JSON even though binary_data_output is true (Triton's code)
  const listed = encodeInferResponse(response([fp32, z]), encoding([{ name: 'y' }], [false], true));
  const header = JSON.parse(listed.body.subarray(0, listed.headerLength).toString()) as { outputs: Array<Record<string, unknown>> };
  assert.ok(header.outputs[0]!.data, 'listed output without binary_data is JSON');
  assert.deepEqual(header.outputs[1]!.parameters, { binary_data_size: 4 }, 'unlisted follows binary_data_output');
  assert.equal(listed.body.subarray(listed.headerLength).readInt32LE(0), 5);
  // nothing listed, binary_data_output true → every output binary
  const all = encodeInferResponse(response([fp32, z]), encoding(undefined, [], true));
  assert.equal(all.body.length, all.headerLength! + 16);
});

test('FP16 and BF16 outputs are always sent binary', () => {
  const half: Tensor = { name: 'h', datatype: 'FP16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) };
  const { body, headerLength } = encodeInferResponse(response([half]), encoding());
  assert.ok(headerLength !== undefined);
  assert.deepEqual([...body.subarray(headerLength)], [0x00, 0x3c, 0x00, 0xc0]);
});

test('zero-byte binary outputs still carry binary_data_size 0', () => {
  const empty: Tensor = { name: 'e', datatype: 'FP32', shape: [0], data: new Float32Array(0) };
  const { body, headerLength } = encodeInferResponse(response([empty]), encoding(undefined, [], true));
  assert.equal(body.length, headerLength);
  assert.match(body.toString(), /"parameters":\{"binary_data_size":0\}/);
});

test('output data that views part of a larger buffer is written from its own bytes only', () => {
  const backing = new Float32Array([9, 9, 1.5, 2.5, 9]);
  const view: Tensor = { name: 'v', datatype: 'FP32', shape: [2], data: backing.subarray(2, 4) };
  const { body, headerLength } = encodeInferResponse(response([view]), encoding(undefined, [], true));
  assert.deepEqual(Array.from(new Float32Array(new Uint8Array(body.subarray(headerLength)).buffer)), [1.5, 2.5]);
  const json = encodeInferResponse(response([view]), encoding());
  assert.match(json.body.toString(), /"data":\[1\.5,2\.5\]/);
});
