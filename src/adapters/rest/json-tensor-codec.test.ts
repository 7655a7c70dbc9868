/** JSON tensor data both ways for every datatype, with the checks that keep bad values out. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isModelportError, type Datatype } from '../../core/index.js';
import { decodeJsonTensorData, encodeJsonTensorData } from './json-tensor-codec.js';
import { parseJsonText } from './parse-json-text.js';

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => isModelportError(error) && error.kind === 'INVALID_ARG' && pattern.test(error.message));
}

const cases: Array<[Datatype, unknown[], unknown]> = [
  ['BOOL', [true, false, 1, 0], new Uint8Array([1, 0, 1, 0])],
  ['INT8', [-128, 127], new Int8Array([-128, 127])],
  ['INT16', [-32768, 32767], new Int16Array([-32768, 32767])],
  ['INT32', [-2147483648, 2147483647], new Int32Array([-2147483648, 2147483647])],
  ['UINT8', [0, 255], new Uint8Array([0, 255])],
  ['UINT16', [0, 65535], new Uint16Array([0, 65535])],
  ['UINT32', [0, 4294967295], new Uint32Array([0, 4294967295])],
  ['INT64', [-5, 7], new BigInt64Array([-5n, 7n])],
  ['UINT64', [0, 7], new BigUint64Array([0n, 7n])],
  ['FP32', [0.5, -1.25], new Float32Array([0.5, -1.25])],
  ['FP64', [0.1, -1e300], new Float64Array([0.1, -1e300])],
];

for (const [datatype, values, expected] of cases) {
  test(`${datatype}: JSON values decode to the datatype's typed array and encode back`, () => {
    const data = decodeJsonTensorData('x', datatype, [values.length], values.length, values);
    assert.deepEqual(data, expected);
    const text = encodeJsonTensorData(datatype, data);
    const roundTrip = datatype === 'BOOL' ? values.map((v) => v === true || v === 1) : values;
    assert.deepEqual(parseJsonText(text), roundTrip);
  });
}

test('BYTES: strings become UTF-8 bytes in one owned buffer, and come back as strings', () => {
  const data = decodeJsonTensorData('s', 'BYTES', [3], 3, ['héllo', '', 'wörld']) as Uint8Array[];
  assert.equal(data.length, 3);
  assert.deepEqual(Buffer.from(data[0]!).toString(), 'héllo');
  assert.equal(data[1]!.byteLength, 0);
  assert.equal(data[0]!.buffer, data[2]!.buffer);
  assert.equal(data[0]!.buffer.byteLength, 'héllo'.length + 1 + 'wörld'.length + 1);
  assert.equal(encodeJsonTensorData('BYTES', data), '["héllo","","wörld"]');
  assert.equal(encodeJsonTensorData('BYTES', [new Uint8Array([0x22, 0x5c, 0x0a])]), '["\\"\\\\\\n"]');
});

test('INT64 and UINT64 at their limits round-trip exactly through JSON text', () => {
  const text = '[9223372036854775807,-9223372036854775808,0,-1]';
  const int64 = decodeJsonTensorData('i', 'INT64', [4], 4, parseJsonText(text));
  assert.deepEqual(int64, new BigInt64Array([2n ** 63n - 1n, -(2n ** 63n), 0n, -1n]));
  assert.equal(encodeJsonTensorData('INT64', int64), text);
  const utext = '[18446744073709551615,9007199254740993,0]';
  const uint64 = decodeJsonTensorData('u', 'UINT64', [3], 3, parseJsonText(utext));
  assert.deepEqual(uint64, new BigUint64Array([2n ** 64n - 1n, 2n ** 53n + 1n, 0n]));
  assert.equal(encodeJsonTensorData('UINT64', uint64), utext);
});

test('64-bit values beyond the datatype range are rejected with the value named', () => {
  rejects(() => decodeJsonTensorData('i', 'INT64', [1], 1, parseJsonText('[9223372036854775808]')), /input 'i'.*9223372036854775808 at index 0 is not a valid INT64/);
  rejects(() => decodeJsonTensorData('u', 'UINT64', [1], 1, parseJsonText('[18446744073709551616]')), /18446744073709551616/);
  rejects(() => decodeJsonTensorData('u', 'UINT64', [1], 1, [-1]), /-1 at index 0 is not a valid UINT64/);
  // 1e19 parses as an inexact double: refused rather than silently rounded
  rejects(() => decodeJsonTensorData('i', 'INT64', [1], 1, parseJsonText('[1e19]')), /INT64/);
});

test('nested data is flattened in row-major order', () => {
  const data = decodeJsonTensorData('x', 'INT32', [2, 3], 6, [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(data, new Int32Array([1, 2, 3, 4, 5, 6]));
  const deep = decodeJsonTensorData('x', 'FP32', [2, 1, 2], 4, [[[1, 2]], [[3, 4]]]);
  assert.deepEqual(deep, new Float32Array([1, 2, 3, 4]));
  // flat length equal to the count but with a nested element
  assert.deepEqual(decodeJsonTensorData('x', 'INT32', [2], 2, [1, [2]]), new Int32Array([1, 2]));
});

test('element count must equal the product of the shape', () => {
  rejects(() => decodeJsonTensorData('x', 'FP32', [2, 3], 6, [1, 2, 3, 4, 5]), /^unable to parse 'data' for input 'x': expected 6 elements for shape \[2,3\], got 5$/);
  rejects(() => decodeJsonTensorData('x', 'FP32', [2, 3], 6, [[1, 2, 3], [4, 5, 6, 7]]), /expected 6 elements for shape \[2,3\], got 7/);
  assert.deepEqual(decodeJsonTensorData('x', 'FP32', [0, 3], 0, []), new Float32Array(0));
});

test('nesting deeper than 100 levels is refused', () => {
  let data: unknown = [1];
  for (let i = 0; i < 100; i++) data = [data];
  rejects(() => decodeJsonTensorData('x', 'FP32', [1], 1, data), /nested deeper than 100 levels/);
});

test('values outside the datatype are rejected, naming input, value and index', () => {
  rejects(() => decodeJsonTensorData('img', 'UINT8', [3], 3, [1, 300, 2]), /^unable to parse 'data' for input 'img': 300 at index 1 is not a valid UINT8 value \(expected an integer in \[0, 255\]\)$/);
  rejects(() => decodeJsonTensorData('x', 'INT8', [1], 1, [-129]), /-129 at index 0/);
  rejects(() => decodeJsonTensorData('x', 'INT32', [1], 1, [1.5]), /1\.5 at index 0 is not a valid INT32/);
  rejects(() => decodeJsonTensorData('x', 'UINT32', [1], 1, [4294967296]), /4294967296/);
  rejects(() => decodeJsonTensorData('x', 'FP32', [2], 2, [1, 'a']), /"a" at index 1 is not a valid FP32 value \(expected a number\)/);
  rejects(() => decodeJsonTensorData('x', 'FP32', [1], 1, [null]), /null at index 0/);
  rejects(() => decodeJsonTensorData('b', 'BOOL', [1], 1, [2]), /2 at index 0 is not a valid BOOL value \(expected true, false, 0 or 1\)/);
  rejects(() => decodeJsonTensorData('s', 'BYTES', [1], 1, [5]), /5 at index 0 is not a valid BYTES value \(expected a string\)/);
  rejects(() => decodeJsonTensorData('x', 'FP32', [1], 1, 5), /expected an array, got 5/);
});

test('FP16 and BF16 are refused in JSON with Triton\'s message', () => {
  rejects(() => decodeJsonTensorData('half', 'FP16', [1], 1, [1]), /^receiving FP16 data via JSON is not supported\. Please use the binary data format for input half$/);
  rejects(() => decodeJsonTensorData('b', 'BF16', [1], 1, [1]), /^receiving BF16 data via JSON is not supported/);
});

test('floats print as the shortest round-trip text; NaN and infinities as null', () => {
  const f32 = new Float32Array([0.1, 1e-7, 3]);
  assert.deepEqual(JSON.parse(encodeJsonTensorData('FP32', f32)), Array.from(f32));
  assert.equal(encodeJsonTensorData('FP64', new Float64Array([NaN, Infinity, -Infinity, 1.5])), '[null,null,null,1.5]');
  assert.equal(encodeJsonTensorData('FP32', new Float32Array(0)), '[]');
});
