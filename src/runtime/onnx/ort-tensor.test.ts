/**
 * Unit tests of the Modelport ⇄ onnxruntime tensor conversions: every protocol datatype both
 * ways, FP16 as raw bits, BYTES as UTF-8, BF16 refused, and arrays of the wrong class handled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Tensor as OrtTensor } from 'onnxruntime-node';
import { DATATYPES, type Datatype, type NumericArray, type Tensor } from '../../core/index.js';
import { asArrayType, datatypeFromOrtType, encodeStrings, fromOrtTensor, ORT_TYPES, toOrtTensor } from './ort-tensor.js';

const SAMPLES: Record<Exclude<Datatype, 'BYTES' | 'BF16'>, { ort: string; data: NumericArray }> = {
  BOOL: { ort: 'bool', data: new Uint8Array([1, 0, 1, 1]) },
  UINT8: { ort: 'uint8', data: new Uint8Array([0, 1, 128, 255]) },
  UINT16: { ort: 'uint16', data: new Uint16Array([0, 1, 32768, 65535]) },
  UINT32: { ort: 'uint32', data: new Uint32Array([0, 1, 2 ** 31, 2 ** 32 - 1]) },
  UINT64: { ort: 'uint64', data: new BigUint64Array([0n, 1n, 2n ** 53n + 1n, 2n ** 64n - 1n]) },
  INT8: { ort: 'int8', data: new Int8Array([-128, -1, 0, 127]) },
  INT16: { ort: 'int16', data: new Int16Array([-32768, -1, 0, 32767]) },
  INT32: { ort: 'int32', data: new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1]) },
  INT64: { ort: 'int64', data: new BigInt64Array([-(2n ** 63n), -1n, 2n ** 53n + 1n, 2n ** 63n - 1n]) },
  FP16: { ort: 'float16', data: new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x7e01]) },
  FP32: { ort: 'float32', data: new Float32Array([1.5, -2, Number.POSITIVE_INFINITY, Number.NaN]) },
  FP64: { ort: 'float64', data: new Float64Array([1e300, -0, Math.PI, Number.NaN]) },
};

describe('ORT_TYPES', () => {
  it('names an onnxruntime type for every datatype but BF16, and maps back', () => {
    for (const datatype of DATATYPES) {
      const ortType = ORT_TYPES[datatype];
      if (datatype === 'BF16') {
        assert.equal(ortType, undefined);
        continue;
      }
      assert.ok(ortType, datatype);
      assert.equal(datatypeFromOrtType(ortType), datatype);
    }
    assert.equal(datatypeFromOrtType('int4'), undefined);
  });
});

describe('toOrtTensor / fromOrtTensor', () => {
  for (const [datatype, sample] of Object.entries(SAMPLES) as [Exclude<Datatype, 'BYTES' | 'BF16'>, (typeof SAMPLES)['FP32']][]) {
    it(`${datatype} goes to '${sample.ort}' in place and comes back identical`, () => {
      const tensor: Tensor = { name: 'x', datatype, shape: [2, 2], data: sample.data };
      const ort = toOrtTensor(tensor);
      assert.equal(ort.type, sample.ort);
      assert.deepEqual(ort.dims, [2, 2]);
      assert.equal(ort.data, sample.data, 'numeric input data is wrapped, not copied');
      const back = fromOrtTensor('y', ort);
      assert.equal(back.name, 'y');
      assert.equal(back.datatype, datatype);
      assert.deepEqual(back.shape, [2, 2]);
      assert.equal(back.data.constructor, sample.data.constructor);
      assert.deepEqual(back.data, sample.data);
    });
  }

  it('FP16 outputs are Uint16Array raw bits', () => {
    const back = fromOrtTensor('h', new OrtTensor('float16', new Uint16Array([0x3c00, 0x7e01]), [2]));
    assert.equal(back.datatype, 'FP16');
    assert.ok(back.data instanceof Uint16Array);
    assert.deepEqual(Array.from(back.data as Uint16Array), [0x3c00, 0x7e01]);
  });

  it('BYTES becomes UTF-8 decoded strings and comes back as UTF-8 bytes', () => {
    const encoder = new TextEncoder();
    const texts = ['', 'héllo', '日本語', 'plain'];
    const ort = toOrtTensor({ name: 's', datatype: 'BYTES', shape: [4], data: texts.map((t) => encoder.encode(t)) });
    assert.equal(ort.type, 'string');
    assert.deepEqual(ort.data, texts);
    const back = fromOrtTensor('s', ort);
    assert.equal(back.datatype, 'BYTES');
    assert.deepEqual((back.data as Uint8Array[]).map((b) => new TextDecoder().decode(b)), texts);
  });

  it('a scalar keeps shape []', () => {
    const ort = toOrtTensor({ name: 'n', datatype: 'INT64', shape: [], data: new BigInt64Array([2n ** 62n]) });
    assert.deepEqual(ort.dims, []);
    assert.deepEqual(fromOrtTensor('n', ort).shape, []);
  });

  it('refuses BF16 with MP_ERR_RUNTIME_FAILED', () => {
    assert.throws(
      () => toOrtTensor({ name: 'b', datatype: 'BF16', shape: [1], data: new Uint16Array(1) }),
      (error: { code?: string; message: string }) =>
        error.code === 'MP_ERR_RUNTIME_FAILED' && error.message.includes('BF16 is not supported by onnxruntime'),
    );
  });

  it('refuses BYTES that are not UTF-8 or hold a NUL byte, and data of the wrong kind', () => {
    assert.throws(
      () => toOrtTensor({ name: 's', datatype: 'BYTES', shape: [1], data: [new Uint8Array([0xff, 0xfe])] }),
      { code: 'MP_ERR_INPUT_DATA' },
    );
    assert.throws(
      () => toOrtTensor({ name: 's', datatype: 'BYTES', shape: [1], data: [new Uint8Array([97, 0, 98])] }),
      (error: { code?: string; message: string }) => error.code === 'MP_ERR_INPUT_DATA' && error.message.includes('NUL'),
    );
    assert.throws(() => toOrtTensor({ name: 's', datatype: 'BYTES', shape: [1], data: new Uint8Array(1) }), { code: 'MP_ERR_INPUT_DATA' });
    assert.throws(() => toOrtTensor({ name: 'f', datatype: 'FP32', shape: [1], data: [new Uint8Array(4)] }), { code: 'MP_ERR_INPUT_DATA' });
  });

  it('reinterprets a byte view of FP32 data as Float32Array (and copies it when misaligned)', () => {
    const floats = new Float32Array([1, 2, 3]);
    const aligned = toOrtTensor({ name: 'f', datatype: 'FP32', shape: [3], data: new Uint8Array(floats.buffer) });
    assert.ok(aligned.data instanceof Float32Array);
    assert.equal((aligned.data as Float32Array).buffer, floats.buffer);
    const shifted = new Uint8Array(13);
    shifted.set(new Uint8Array(floats.buffer), 1);
    const copied = asArrayType('FP32', shifted.subarray(1));
    assert.ok(copied instanceof Float32Array);
    assert.deepEqual(Array.from(copied), [1, 2, 3]);
    assert.throws(() => asArrayType('FP32', new Uint8Array(3)), { code: 'MP_ERR_INPUT_DATA' });
  });
});

describe('encodeStrings', () => {
  it('packs every element into one buffer that the views cover exactly', () => {
    const items = encodeStrings(['ab', '', 'ç']);
    assert.equal(items.length, 3);
    const buffer = items[0]!.buffer;
    assert.ok(items.every((item) => item.buffer === buffer));
    assert.equal(buffer.byteLength, 2 + 0 + 2);
    assert.deepEqual(items.map((item) => item.byteOffset), [0, 2, 2]);
  });
});
