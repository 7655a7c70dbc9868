import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNpy } from './npy-file.js';

function npy(descr: string, shape: string, data: Buffer): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(prefix);
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), data]);
}

test('reads dtype, shape and data', () => {
  const data = Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
  const array = parseNpy(npy('<f4', '(2, 3)', data));
  assert.equal(array.datatype, 'FP32');
  assert.deepEqual(array.shape, [2, 3]);
  assert.deepEqual(array.data, data);
  assert.deepEqual(parseNpy(npy('<i8', '()', Buffer.alloc(8))).shape, []);
  assert.deepEqual(parseNpy(npy('<i8', '(5,)', Buffer.alloc(40))).shape, [5]);
});

test('refuses what it cannot send', () => {
  assert.throws(() => parseNpy(Buffer.from('hello world')), /not a .npy file/);
  assert.throws(() => parseNpy(npy('>f4', '(1,)', Buffer.alloc(4))), /dtype '>f4' is not supported/);
  assert.throws(() => parseNpy(npy('<c8', '(1,)', Buffer.alloc(8))), /not supported/);
});
