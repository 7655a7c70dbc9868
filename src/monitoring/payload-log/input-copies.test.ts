import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from '../../core/index.js';
import { InputCopies } from './input-copies.js';

function tensor(data: Tensor['data'], datatype: Tensor['datatype'] = 'FP32'): Tensor {
  return { name: 'x', datatype, shape: [Array.isArray(data) ? data.length : data.length], data };
}

test('copies share no memory with the request, whatever the datatype', () => {
  const copies = new InputCopies();
  const body = Buffer.alloc(64);
  const inputs = [
    tensor(new Float32Array(body.buffer, body.byteOffset + 4, 3).fill(1.5)),
    tensor(new BigInt64Array([1n, -2n]), 'INT64'),
    tensor([Buffer.from('ab'), Buffer.from('c')], 'BYTES'),
  ];
  const copied = copies.copy(inputs);
  (inputs[0]!.data as Float32Array).fill(9);
  (inputs[1]!.data as BigInt64Array).fill(0n);
  assert.deepEqual(Array.from(copied[0]!.data as Float32Array), [1.5, 1.5, 1.5]);
  assert.deepEqual(Array.from(copied[1]!.data as BigInt64Array), [1n, -2n]);
  assert.ok(copied[0]!.data instanceof Float32Array && copied[1]!.data instanceof BigInt64Array);
  assert.notEqual(copied[2]!.data, inputs[2]!.data);
  assert.deepEqual(copied.map((t) => [t.name, t.datatype, t.shape]), inputs.map((t) => [t.name, t.datatype, t.shape]));
});

test("a released copy lends its memory to the next one; a caller's own tensor never enters the pool", () => {
  const copies = new InputCopies();
  const first = copies.copy([tensor(new Float32Array([1, 2]))]);
  const buffer = (first[0]!.data as Float32Array).buffer;
  copies.release(first);
  const second = copies.copy([tensor(new Float32Array([3, 4]))]);
  assert.equal((second[0]!.data as Float32Array).buffer, buffer);
  assert.deepEqual(Array.from(second[0]!.data as Float32Array), [3, 4]);

  const own = new Float32Array([5, 6, 7]);
  copies.release([tensor(own)]);
  const third = copies.copy([tensor(new Float32Array([8, 9, 10]))]);
  assert.notEqual((third[0]!.data as Float32Array).buffer, own.buffer);
  assert.deepEqual(Array.from(own), [5, 6, 7]);
});
