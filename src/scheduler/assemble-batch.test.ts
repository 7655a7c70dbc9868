/**
 * Tests of batch assembly and splitting: which requests share a shape key, concatenation of
 * numeric, 64-bit and BYTES inputs along dim 0, splitting outputs into views per request, and the
 * checks that refuse outputs that do not have the batch's rows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isModelportError, type Tensor } from '../core/index.js';
import { assembleBatch, batchShapeKey, checkBatchOutputs, splitBatch } from './assemble-batch.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('batchShapeKey', () => {
  const tensor = (name: string, datatype: Tensor['datatype'], shape: number[]): Tensor => ({
    name,
    datatype,
    shape,
    data: new Float32Array(0),
  });

  it('ignores the batch dimension only', () => {
    assert.equal(batchShapeKey([tensor('x', 'FP32', [1, 3, 4])]), batchShapeKey([tensor('x', 'FP32', [7, 3, 4])]));
    assert.notEqual(batchShapeKey([tensor('x', 'FP32', [1, 3, 4])]), batchShapeKey([tensor('x', 'FP32', [1, 4, 3])]));
    assert.notEqual(batchShapeKey([tensor('x', 'FP32', [1, 3])]), batchShapeKey([tensor('x', 'FP32', [1, 3, 1])]));
    assert.notEqual(batchShapeKey([tensor('x', 'FP32', [1, 3])]), batchShapeKey([tensor('x', 'FP16', [1, 3])]));
  });

  it('tells apart requests with different (optional) inputs', () => {
    const both = [tensor('x', 'FP32', [1, 3]), tensor('mask', 'BOOL', [1, 3])];
    assert.notEqual(batchShapeKey(both), batchShapeKey([tensor('x', 'FP32', [1, 3])]));
    assert.notEqual(batchShapeKey([tensor('ab', 'FP32', [1, 3])]), batchShapeKey([tensor('a', 'FP32', [1, 3])]));
  });
});

describe('assembleBatch', () => {
  it('concatenates every input along dim 0 into a new array', () => {
    const a: Tensor[] = [
      { name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) },
      { name: 'ids', datatype: 'INT64', shape: [1, 1], data: new BigInt64Array([2n ** 60n]) },
    ];
    const b: Tensor[] = [
      { name: 'x', datatype: 'FP32', shape: [2, 2], data: new Float32Array([3, 4, 5, 6]) },
      { name: 'ids', datatype: 'INT64', shape: [2, 1], data: new BigInt64Array([-1n, 7n]) },
    ];
    const [x, ids] = assembleBatch([a, b], 3);
    assert.deepEqual(x!.shape, [3, 2]);
    assert.ok(x!.data instanceof Float32Array);
    assert.deepEqual(Array.from(x!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(ids!.shape, [3, 1]);
    assert.deepEqual(Array.from(ids!.data as BigInt64Array), [2n ** 60n, -1n, 7n]);
    assert.notEqual((x!.data as Float32Array).buffer, (a[0]!.data as Float32Array).buffer);
    assert.deepEqual(a[0]!.shape, [1, 2], 'requests are left as they were');
  });

  it('concatenates BYTES elements by reference', () => {
    const hello = bytes('hello');
    const [t] = assembleBatch(
      [
        [{ name: 's', datatype: 'BYTES', shape: [1], data: [hello] }],
        [{ name: 's', datatype: 'BYTES', shape: [2], data: [bytes('a'), bytes('')] }],
      ],
      3,
    );
    assert.deepEqual(t!.shape, [3]);
    const data = t!.data as Uint8Array[];
    assert.equal(data.length, 3);
    assert.equal(data[0], hello);
    assert.equal(new TextDecoder().decode(data[1]), 'a');
  });
});

describe('splitBatch', () => {
  it('splits numeric outputs into views and BYTES into per-request lists', () => {
    const out: Tensor[] = [
      { name: 'y', datatype: 'FP32', shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      { name: 'label', datatype: 'BYTES', shape: [3], data: [bytes('a'), bytes('b'), bytes('c')] },
    ];
    checkBatchOutputs(out, 3, 'm:1');
    const [first, second] = splitBatch(out, [1, 2], 3);
    assert.deepEqual(first![0]!.shape, [1, 2]);
    assert.deepEqual(Array.from(first![0]!.data as Float32Array), [1, 2]);
    assert.deepEqual(second![0]!.shape, [2, 2]);
    assert.deepEqual(Array.from(second![0]!.data as Float32Array), [3, 4, 5, 6]);
    assert.equal((second![0]!.data as Float32Array).buffer, (out[0]!.data as Float32Array).buffer);
    assert.deepEqual(second![1]!.shape, [2]);
    assert.deepEqual((second![1]!.data as Uint8Array[]).map((b) => new TextDecoder().decode(b)), ['b', 'c']);
    assert.equal(first![1]!.name, 'label');
  });

  it('refuses outputs whose first dimension or element count does not match the batch', () => {
    const refuses = (tensor: Tensor, pattern: RegExp) =>
      assert.throws(
        () => checkBatchOutputs([tensor], 4, 'm:1'),
        (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_RUNTIME_FAILED' && pattern.test(error.message),
      );
    refuses({ name: 'y', datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) }, /'y'.*\[1,4\].*batch size 4/);
    refuses({ name: 'y', datatype: 'FP32', shape: [], data: new Float32Array(1) }, /batch size 4/);
    refuses({ name: 'y', datatype: 'FP32', shape: [4, 2], data: new Float32Array(4) }, /4 elements.*expected 8/);
  });
});
