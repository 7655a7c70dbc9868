/** Infer bodies, JSON and binary-extension, into InferenceRequests; every malformed shape of body refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isModelportError } from '../../core/index.js';
import { decodeInferRequest, parseHeaderLength } from './infer-request-decoder.js';

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => isModelportError(error) && error.kind === 'INVALID_ARG' && pattern.test(error.message));
}

function jsonBody(value: unknown): Buffer {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
}

/** JSON header + binary parts, as tritonclient and perf_analyzer send them. */
function binaryBody(header: unknown, ...parts: Uint8Array[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}

function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

test('a JSON request decodes id, version, inputs, outputs and custom parameters', () => {
  const decoded = decodeInferRequest(
    jsonBody({
      id: 'r1',
      parameters: { custom: 'yes', n: 3, f: 0.5, b: true, priority: 2, timeout: 1000, sequence_id: 'abc', sequence_start: true },
      inputs: [
        { name: 'a', datatype: 'INT32', shape: [2, 2], data: [[1, 2], [3, 4]] },
        { name: 's', datatype: 'BYTES', shape: [1], data: ['hi'] },
      ],
      outputs: [{ name: 'y', parameters: { binary_data: true, classification: 2 } }, { name: 'z' }],
    }),
    undefined,
    'm',
    '3',
  );
  const { request } = decoded;
  assert.equal(request.id, 'r1');
  assert.equal(request.modelName, 'm');
  assert.equal(request.modelVersion, '3');
  assert.deepEqual(request.inputs[0], { name: 'a', datatype: 'INT32', shape: [2, 2], data: new Int32Array([1, 2, 3, 4]) });
  assert.equal(Buffer.from((request.inputs[1]!.data as Uint8Array[])[0]!).toString(), 'hi');
  assert.deepEqual(request.outputs, [{ name: 'y', parameters: { classification: 2 } }, { name: 'z' }]);
  assert.deepEqual(decoded.binaryOutputs, [true, false]);
  assert.equal(decoded.binaryByDefault, false);
  assert.deepEqual(request.parameters, { custom: 'yes', n: 3, f: 0.5, b: true, priority: 2, timeout: 1000, sequence_id: 'abc', sequence_start: true });
});

test('an empty id is not echoed; no version and no outputs stay absent', () => {
  const { request, binaryByDefault } = decodeInferRequest(
    jsonBody({ id: '', parameters: { binary_data_output: true }, inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] }),
    undefined,
    'm',
    undefined,
  );
  assert.equal(request.id, undefined);
  assert.equal('modelVersion' in request, false);
  assert.equal(request.outputs, undefined);
  assert.equal(request.parameters, undefined, 'binary_data_output shapes the HTTP answer only');
  assert.equal(binaryByDefault, true);
});

test('INT64 data and a uint64 sequence_id beyond 2^53 arrive exact', () => {
  const text = '{"parameters":{"sequence_id":18446744073709551615},"inputs":[{"name":"i","datatype":"INT64","shape":[2],"data":[9223372036854775807,-9223372036854775808]}]}';
  const { request } = decodeInferRequest(jsonBody(text), undefined, 'm', undefined);
  assert.deepEqual(request.inputs[0]!.data, new BigInt64Array([2n ** 63n - 1n, -(2n ** 63n)]));
  assert.equal(request.parameters!.sequence_id, 2n ** 64n - 1n);
});

test('binary inputs take their bytes in input order, mixed with JSON inputs', () => {
  const a = new Float32Array([1, 2, 3, 4]);
  const b = new BigUint64Array([2n ** 64n - 1n]);
  const { body, headerLength } = binaryBody(
    {
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
        { name: 'j', datatype: 'BOOL', shape: [2], data: [true, false] },
        { name: 'b', datatype: 'UINT64', shape: [1], parameters: { binary_data_size: 8 } },
        { name: 'e', datatype: 'FP32', shape: [0], parameters: { binary_data_size: 0 } },
      ],
    },
    bytesOf(a),
    bytesOf(b),
  );
  const { request } = decodeInferRequest(body, headerLength, 'm', undefined);
  assert.deepEqual(Array.from(request.inputs[0]!.data as Float32Array), [1, 2, 3, 4]);
  assert.deepEqual(request.inputs[1]!.data, new Uint8Array([1, 0]));
  assert.deepEqual(Array.from(request.inputs[2]!.data as BigUint64Array), [2n ** 64n - 1n]);
  assert.equal((request.inputs[3]!.data as Float32Array).length, 0);
});

test('a binary input at a misaligned offset is copied and still exact', () => {
  const values = new Float64Array([0.1, -2.5]);
  // header length 13 is not a multiple of 8
  const header = Buffer.from('{"inputs":[{"name":"x","datatype":"FP64","shape":[2],"parameters":{"binary_data_size":16}}]}   ');
  const padded = Buffer.concat([header.subarray(0, header.length), bytesOf(values)]);
  assert.notEqual(header.length % 8, 0);
  const { request } = decodeInferRequest(padded, header.length, 'm', undefined);
  assert.deepEqual(Array.from(request.inputs[0]!.data as Float64Array), [0.1, -2.5]);
});

test('BYTES binary inputs are read through their length prefixes', () => {
  const items = ['one', 'two!'].map((s) => {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(Buffer.byteLength(s));
    return Buffer.concat([prefix, Buffer.from(s)]);
  });
  const data = Buffer.concat(items);
  const { body, headerLength } = binaryBody({ inputs: [{ name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: data.length } }] }, data);
  const { request } = decodeInferRequest(body, headerLength, 'm', undefined);
  assert.deepEqual((request.inputs[0]!.data as Uint8Array[]).map((d) => Buffer.from(d).toString()), ['one', 'two!']);
});

test('Inference-Header-Content-Length: absent, in range, or a 400', () => {
  assert.equal(parseHeaderLength(undefined, 10), undefined);
  assert.equal(parseHeaderLength('0', 10), 0);
  assert.equal(parseHeaderLength('10', 10), 10);
  rejects(() => parseHeaderLength('11', 10), /Inference-Header-Content-Length should be in range \[0, 10\], got: 11/);
  rejects(() => parseHeaderLength('-1', 10), /got: -1/);
  rejects(() => parseHeaderLength('abc', 10), /got: abc/);
});

test('binary sizes are checked against the body', () => {
  const header = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 256], parameters: { binary_data_size: 1024 } }] };
  const short = binaryBody(header, Buffer.alloc(10));
  rejects(() => decodeInferRequest(short.body, short.headerLength, 'mlp', undefined), /^unexpected size for input 'x', expecting 1014 additional bytes for model 'mlp'$/);
  const extra = binaryBody(header, Buffer.alloc(1030));
  rejects(() => decodeInferRequest(extra.body, extra.headerLength, 'mlp', undefined), /^unexpected additional input data for model 'mlp'$/);
  const mismatch = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 4 } }] }, Buffer.alloc(4));
  rejects(() => decodeInferRequest(mismatch.body, mismatch.headerLength, 'm', undefined), /input byte size mismatch for input 'x'.*needs 8 bytes, got 4/);
  const noHeader = jsonBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], parameters: { binary_data_size: 4 } }] });
  rejects(() => decodeInferRequest(noHeader, undefined, 'm', undefined), /must specify valid 'Inference-Header-Content-Length'/);
  const negative = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], parameters: { binary_data_size: -4 } }] });
  rejects(() => decodeInferRequest(negative.body, negative.headerLength, 'm', undefined), /unable to parse 'binary_data_size' for input 'x'/);
});

test('exactly one of data and binary_data_size, with Triton\'s message', () => {
  const both = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1], parameters: { binary_data_size: 4 } }] }, Buffer.alloc(4));
  rejects(
    () => decodeInferRequest(both.body, both.headerLength, 'm', undefined),
    /^Input must set only one of the following fields: 'data', 'binary_data_size' in 'parameters', 'shared_memory_region' in 'parameters'\. But set 'data' 'binary_data_size'/,
  );
  rejects(() => decodeInferRequest(jsonBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] }), undefined, 'm', undefined), /But no field is set/);
  rejects(
    () => decodeInferRequest(jsonBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], parameters: { shared_memory_region: 'r' } }] }), undefined, 'm', undefined),
    /does not support shared memory/,
  );
});

test('request structure errors name the field', () => {
  const decode = (value: unknown) => () => decodeInferRequest(jsonBody(value), undefined, 'm', undefined);
  rejects(decode('{"inputs": ['), /failed to parse the request JSON buffer/);
  rejects(decode([]), /must be a JSON object/);
  rejects(decode({}), /unable to parse 'inputs'/);
  rejects(decode({ id: 5, inputs: [] }), /unable to parse 'id'/);
  rejects(decode({ inputs: [{ datatype: 'FP32', shape: [1], data: [1] }] }), /unable to parse 'name' of input 0/);
  rejects(decode({ inputs: [{ name: 'x', datatype: 'FLOAT', shape: [1], data: [1] }] }), /unable to parse 'datatype' for input 'x': "FLOAT"/);
  rejects(decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2], data: [1] }] }), /unable to parse 'shape' for input 'x': -1 is not a non-negative integer/);
  rejects(decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: 3, data: [1] }] }), /unable to parse 'shape'/);
  rejects(decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1000, 256], data: [1] }] }), /expected 256000 elements/);
  rejects(decode({ inputs: [], outputs: {} }), /unable to parse 'outputs'/);
  rejects(decode({ inputs: [], outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] }), /unable to parse 'binary_data' for output 'y'/);
});

test('reserved parameters are type-checked and triton_ keys refused', () => {
  const decode = (parameters: unknown) => () => decodeInferRequest(jsonBody({ parameters, inputs: [] }), undefined, 'm', undefined);
  rejects(decode({ triton_x: 1 }), /^parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified\.$/);
  rejects(decode({ priority: -1 }), /Unable to parse 'priority'/);
  rejects(decode({ priority: 'high' }), /Unable to parse 'priority'/);
  rejects(decode({ timeout: 1.5 }), /Unable to parse 'timeout'/);
  rejects(decode({ binary_data_output: 1 }), /Unable to parse 'binary_data_output'/);
  rejects(decode({ sequence_start: 'yes' }), /Unable to parse 'sequence_start'/);
  rejects(decode({ sequence_id: -3 }), /Unable to parse 'sequence_id'/);
  rejects(decode({ custom: { nested: true } }), /parameter 'custom' has invalid type/);
  rejects(decode([1]), /unable to parse 'parameters'/);
});

test('a parameter named __proto__ stays a plain key', () => {
  const { request } = decodeInferRequest(jsonBody('{"parameters":{"__proto__":"x"},"inputs":[]}'), undefined, 'm', undefined);
  assert.equal(Object.getPrototypeOf(request.parameters), Object.prototype);
  assert.deepEqual(Object.keys(request.parameters!), ['__proto__']);
});

test('limits are checked from counts and shapes before data is converted, and name the setting', () => {
  const limits = { maxInputs: 1, maxOutputs: 1, maxTensorElements: 8, maxStringTensorElements: 2, maxStringElementBytes: 3, maxTensorBytes: 40 };
  const decode = (value: unknown) => () => decodeInferRequest(jsonBody(value), undefined, 'm', undefined, limits);
  const tooLarge = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_REQUEST_TOO_LARGE' && pattern.test(error.message));
  const x = (shape: number[], data: unknown[], datatype = 'FP32') => ({ name: 'x', datatype, shape, data });
  tooLarge(decode({ inputs: [x([1], [1]), x([1], [1])] }), /2 inputs; the limit is 1/);
  tooLarge(decode({ inputs: [], outputs: [{ name: 'a' }, { name: 'b' }] }), /names 2 outputs; the limit is 1/);
  // The shape alone is enough: no data needs to follow.
  tooLarge(decode({ inputs: [x([3, 3], [])] }), /has 9 elements .*maxTensorElements/);
  tooLarge(decode({ inputs: [x([8], [1, 2, 3, 4, 5, 6, 7, 8], 'FP64')] }), /64 bytes once decoded.*the limit is 40 bytes/);
  tooLarge(decode({ inputs: [x([3], ['a', 'b', 'c'], 'BYTES')] }), /limit is 2 elements per BYTES tensor/);
  tooLarge(decode({ inputs: [x([1], ['abcd'], 'BYTES')] }), /is 4 bytes; the limit is 3 bytes per BYTES element/);
  assert.equal(decodeInferRequest(jsonBody({ inputs: [x([2], ['ab', 'c'], 'BYTES')] }), undefined, 'm', undefined, limits).request.inputs.length, 1);
});

test('error messages describe hostile values without throwing: BigInts, deep nesting, long strings', () => {
  const decode = (text: string) => () => decodeInferRequest(Buffer.from(text), undefined, 'm', undefined);
  rejects(decode('{"inputs":[{"name":"x","shape":[1],"datatype":[12345678901234567890],"data":[1]}]}'), /'datatype' for input 'x': \[12345678901234567000\] is not a V2 datatype/);
  rejects(decode('{"inputs":[{"name":"x","shape":[{"a":12345678901234567890}],"datatype":"FP32","data":[1]}]}'), /'shape' for input 'x': \{"a":12345678901234567000\} is not/);
  rejects(decode(`{"inputs":[{"name":"x","shape":[1],"datatype":${'['.repeat(20000)}${']'.repeat(20000)},"data":[1]}]}`), /'datatype' for input 'x': .* is not a V2 datatype/);
  rejects(decode(`{"parameters":{"priority":"${'p'.repeat(100000)}"},"inputs":[]}`), /expected an unsigned integer, got "p{20,}\.\.\.$/);
});
