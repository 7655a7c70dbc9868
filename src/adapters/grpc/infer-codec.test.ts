import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isModelportError } from '../../core/index.js';
import { decodeModelInferRequest, encodeModelInferResponse } from './infer-codec.js';
import type { InferInputTensorMessage, ModelInferRequestMessage, TensorContentsMessage } from './proto-types.js';

function contents(fields: Partial<TensorContentsMessage>): TensorContentsMessage {
  return { bool_contents: [], int_contents: [], int64_contents: [], uint_contents: [], uint64_contents: [], fp32_contents: [], fp64_contents: [], bytes_contents: [], ...fields };
}

function input(name: string, datatype: string, shape: string[], fields?: Partial<TensorContentsMessage>): InferInputTensorMessage {
  return { name, datatype, shape, parameters: {}, contents: fields ? contents(fields) : null };
}

function request(fields: Partial<ModelInferRequestMessage>): ModelInferRequestMessage {
  return { model_name: 'm', model_version: '', id: '', parameters: {}, inputs: [], outputs: [], raw_input_contents: [], ...fields };
}

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => isModelportError(error) && error.kind === 'INVALID_ARG' && pattern.test(error.message));
}

test('raw contents are viewed per input, BYTES with length prefixes', () => {
  const floats = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
  const strings = Buffer.from([2, 0, 0, 0, 0x68, 0x69, 0, 0, 0, 0]);
  const decoded = decodeModelInferRequest(
    request({ model_version: '2', id: 'x', inputs: [input('a', 'FP32', ['2', '2']), input('s', 'BYTES', ['2'])], raw_input_contents: [floats, strings] }),
  );
  assert.equal(decoded.modelVersion, '2');
  assert.equal(decoded.id, 'x');
  assert.deepEqual(Array.from(decoded.inputs[0]!.data as Float32Array), [1, 2, 3, 4]);
  assert.deepEqual(decoded.inputs[0]!.shape, [2, 2]);
  assert.deepEqual((decoded.inputs[1]!.data as Uint8Array[]).map((b) => Buffer.from(b).toString()), ['hi', '']);
});

test('typed contents of every field, exact for 64-bit integers', () => {
  const decoded = decodeModelInferRequest(
    request({
      inputs: [
        input('b', 'BOOL', ['2'], { bool_contents: [true, false] }),
        input('i8', 'INT8', ['2'], { int_contents: [-128, 127] }),
        input('u16', 'UINT16', ['1'], { uint_contents: [65535] }),
        input('i64', 'INT64', ['1'], { int64_contents: ['-9007199254740993'] }),
        input('u64', 'UINT64', ['1'], { uint64_contents: ['18446744073709551615'] }),
        input('f64', 'FP64', ['1'], { fp64_contents: [0.1] }),
        input('s', 'BYTES', ['1'], { bytes_contents: [Buffer.from('ok')] }),
      ],
    }),
  );
  const data = decoded.inputs.map((i) => i.data);
  assert.deepEqual(Array.from(data[0] as Uint8Array), [1, 0]);
  assert.deepEqual(Array.from(data[1] as Int8Array), [-128, 127]);
  assert.deepEqual(Array.from(data[2] as Uint16Array), [65535]);
  assert.deepEqual(Array.from(data[3] as BigInt64Array), [-9007199254740993n]);
  assert.deepEqual(Array.from(data[4] as BigUint64Array), [18446744073709551615n]);
  assert.deepEqual(Array.from(data[5] as Float64Array), [0.1]);
});

test('typed contents are checked for field, count and range', () => {
  rejects(() => decodeModelInferRequest(request({ inputs: [input('x', 'INT8', ['1'], { int_contents: [300] })] })), /element 0 is 300, outside the INT8 range/);
  rejects(() => decodeModelInferRequest(request({ inputs: [input('x', 'FP32', ['3'], { fp32_contents: [1] })] })), /needs 3 elements, but contents.fp32_contents has 1/);
  rejects(() => decodeModelInferRequest(request({ inputs: [input('x', 'FP16', ['1'], { uint_contents: [1] })] })), /FP16 data must be sent in raw_input_contents/);
  rejects(
    () => decodeModelInferRequest(request({ inputs: [input('x', 'FP32', ['1'], { fp32_contents: [1] })], raw_input_contents: [Buffer.alloc(4)] })),
    /sets contents while the request uses raw_input_contents/,
  );
});

test('parameters: int64/uint64 as numbers, reserved keys refused, empty-final-response flag dropped', () => {
  const decoded = decodeModelInferRequest(
    request({
      parameters: {
        priority: { parameter_choice: 'uint64_param', uint64_param: '2' },
        big: { parameter_choice: 'int64_param', int64_param: '9007199254740993' },
        flag: { parameter_choice: 'bool_param', bool_param: true },
        triton_enable_empty_final_response: { parameter_choice: 'bool_param', bool_param: true },
      },
    }),
  );
  assert.deepEqual(decoded.parameters, { priority: 2, big: 9007199254740993n, flag: true });
  rejects(() => decodeModelInferRequest(request({ parameters: { triton_x: { parameter_choice: 'bool_param', bool_param: true } } })), /reserved for Triton/);
  rejects(() => decodeModelInferRequest(request({ parameters: { empty: {} } })), /parameter 'empty' has no value/);
});

test('responses always carry raw_output_contents, one per output in order', () => {
  const message = encodeModelInferResponse({
    modelName: 'm',
    modelVersion: '1',
    id: 'q',
    outputs: [
      { name: 'y', datatype: 'FP32', shape: [2], data: new Float32Array([1.5, -2]) },
      { name: 's', datatype: 'BYTES', shape: [1], data: [Buffer.from('abc')] },
    ],
    parameters: { n: 3, f: 0.5, b: false, t: 'x' },
  });
  assert.equal(message.id, 'q');
  assert.deepEqual(message.outputs, [
    { name: 'y', datatype: 'FP32', shape: [2] },
    { name: 's', datatype: 'BYTES', shape: [1] },
  ]);
  assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(message.raw_output_contents[0]!).buffer)), [1.5, -2]);
  assert.deepEqual(Buffer.from(message.raw_output_contents[1]!), Buffer.from([3, 0, 0, 0, 0x61, 0x62, 0x63]));
  assert.deepEqual(message.parameters, { n: { int64_param: 3 }, f: { double_param: 0.5 }, b: { bool_param: false }, t: { string_param: 'x' } });
});
