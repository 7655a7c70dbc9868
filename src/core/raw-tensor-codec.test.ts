/** Raw little-endian tensor data both ways: zero-copy views when aligned, copies when not, BYTES prefixes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ARRAY_TYPES, byteSize, isModelportError, type Datatype, type Tensor } from './index.js';
import { decodeBinaryTensorData, writeBinaryTensorData } from './raw-tensor-codec.js';

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => isModelportError(error) && error.kind === 'INVALID_ARG' && pattern.test(error.message));
}

const samples: Record<Exclude<Datatype, 'BYTES'>, number[] | bigint[]> = {
  BOOL: [1, 0, 1],
  UINT8: [0, 255, 7],
  UINT16: [0, 65535, 7],
  UINT32: [0, 4294967295, 7],
  UINT64: [0n, 2n ** 64n - 1n, 7n],
  INT8: [-128, 127, 0],
  INT16: [-32768, 32767, 0],
  INT32: [-2147483648, 2147483647, 0],
  INT64: [-(2n ** 63n), 2n ** 63n - 1n, 0n],
  FP16: [0x3c00, 0xc000, 0x7bff],
  BF16: [0x3f80, 0xc000, 0x7f7f],
  FP32: [0.5, -1.25, 2 ** 127],
  FP64: [0.1, -1e300, 5e-324],
};

for (const [datatype, values] of Object.entries(samples) as Array<[Exclude<Datatype, 'BYTES'>, number[] | bigint[]]>) {
  test(`${datatype}: raw bytes decode at aligned and misaligned offsets, and write back identically`, () => {
    const Ctor = ARRAY_TYPES[datatype];
    const typed = new (Ctor as unknown as new (values: ArrayLike<number | bigint>) => ArrayBufferView)(values);
    const raw = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
    for (const lead of [0, 1, 8]) {
      const body = Buffer.concat([Buffer.alloc(lead, 0xee), raw, Buffer.alloc(3, 0xee)]);
      const data = decodeBinaryTensorData('x', datatype, [3], 3, body, lead, raw.length);
      assert.deepEqual(Array.from(data as ArrayLike<unknown>), values, `lead ${lead}`);
      const tensor: Tensor = { name: 'x', datatype, shape: [3], data };
      const out = Buffer.alloc(byteSize(tensor) + 2);
      assert.equal(writeBinaryTensorData(data, out, 1), 1 + raw.length);
      assert.deepEqual(out.subarray(1, 1 + raw.length), raw);
    }
  });
}

test('aligned data is a view over the body; misaligned data is a copy', () => {
  const body = Buffer.from(new ArrayBuffer(32));
  new Float32Array(body.buffer, 8, 2).set([1.5, 2.5]);
  const view = decodeBinaryTensorData('x', 'FP32', [2], 2, body, 8, 8) as Float32Array;
  assert.equal(view.buffer, body.buffer);
  assert.equal(view.byteOffset, 8);
  assert.deepEqual(Array.from(view), [1.5, 2.5]);

  const shifted = Buffer.from(new ArrayBuffer(32));
  shifted.set(new Uint8Array(new Float32Array([1.5, 2.5]).buffer), 3);
  const copy = decodeBinaryTensorData('x', 'FP32', [2], 2, shifted, 3, 8) as Float32Array;
  assert.notEqual(copy.buffer, shifted.buffer);
  assert.deepEqual(Array.from(copy), [1.5, 2.5]);

  // a Node Buffer slice at an odd byteOffset within its ArrayBuffer
  const pooled = Buffer.from(new ArrayBuffer(40)).subarray(1);
  pooled.set(new Uint8Array(new Int32Array([7, -7]).buffer), 4);
  assert.deepEqual(Array.from(decodeBinaryTensorData('x', 'INT32', [2], 2, pooled, 4, 8) as Int32Array), [7, -7]);
});

test('fixed-size data must be exactly elements × element size', () => {
  const body = Buffer.alloc(64);
  rejects(() => decodeBinaryTensorData('x', 'FP32', [2, 3], 6, body, 0, 20), /input byte size mismatch for input 'x': FP32 with shape \[2,3\] needs 24 bytes, got 20/);
  rejects(() => decodeBinaryTensorData('x', 'INT64', [2], 2, body, 0, 24), /needs 16 bytes/);
});

function bytesBody(items: string[], lead = 0): Buffer {
  const parts: Buffer[] = [Buffer.alloc(lead)];
  for (const item of items) {
    const bytes = Buffer.from(item);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(bytes.length);
    parts.push(prefix, bytes);
  }
  return Buffer.concat(parts);
}

test('BYTES: 4-byte little-endian length prefixes, elements viewing the body, written back identically', () => {
  const body = bytesBody(['ab', '', 'héllo'], 5);
  const data = decodeBinaryTensorData('s', 'BYTES', [3], 3, body, 5, body.length - 5) as Uint8Array[];
  assert.deepEqual(data.map((d) => Buffer.from(d).toString()), ['ab', '', 'héllo']);
  assert.equal(data[0]!.buffer, body.buffer);
  const tensor: Tensor = { name: 's', datatype: 'BYTES', shape: [3], data };
  const out = Buffer.alloc(byteSize(tensor));
  assert.equal(writeBinaryTensorData(data, out, 0), out.length);
  assert.deepEqual(out, body.subarray(5));
});

test('BYTES: truncated prefixes, elements past the region and wrong counts are refused', () => {
  const body = bytesBody(['abc', 'de']);
  rejects(() => decodeBinaryTensorData('s', 'BYTES', [3], 3, body, 0, body.length), /expected 3 elements for shape \[3\], got 2/);
  rejects(() => decodeBinaryTensorData('s', 'BYTES', [1], 1, body, 0, body.length), /more than the 1 elements/);
  rejects(() => decodeBinaryTensorData('s', 'BYTES', [2], 2, body, 0, body.length - 1), /element 1 declares 2 bytes but only 1 remain/);
  rejects(() => decodeBinaryTensorData('s', 'BYTES', [2], 2, body, 0, 9), /element 1 has a truncated 4-byte length prefix/);
  assert.deepEqual(decodeBinaryTensorData('s', 'BYTES', [0], 0, body, 0, 0), []);
});
