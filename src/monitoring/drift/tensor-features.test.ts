import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from '../../core/index.js';
import { copyRows, layoutFits, layoutRows, resolveLayout, tensorFeatureRows, tensorRowShape, type FeatureLayout } from './tensor-features.js';

const fp32 = (name: string, shape: number[], values: number[]): Tensor => ({ name, datatype: 'FP32', shape, data: Float32Array.from(values) });

function layout(names: string[], tensors: Tensor[]): FeatureLayout {
  const resolved = resolveLayout(names, tensors);
  assert.notEqual(typeof resolved, 'string', String(resolved));
  return resolved as FeatureLayout;
}

test('rows follow the offline convention: rank > 1 batches on the first dimension, rank ≤ 1 is one row', () => {
  assert.deepEqual(tensorRowShape([4, 3]), { rows: 4, width: 3 });
  assert.deepEqual(tensorRowShape([2, 2, 3]), { rows: 2, width: 6 });
  assert.deepEqual(tensorRowShape([5]), { rows: 1, width: 5 });
  assert.deepEqual(tensorRowShape([]), { rows: 1, width: 1 });
  assert.deepEqual(tensorRowShape([0, 3]), { rows: 0, width: 0 });
  const int64: Tensor = { name: 'ids', datatype: 'INT64', shape: [2, 2], data: BigInt64Array.from([1n, 2n, 3n, 4n]) };
  assert.deepEqual(tensorFeatureRows(int64), { names: ['ids[0]', 'ids[1]'], rows: [[1, 2], [3, 4]] });
  assert.throws(() => tensorFeatureRows({ name: 's', datatype: 'BYTES', shape: [1], data: [new Uint8Array(1)] }), /numeric tensors/);
});

test('features are found by name whatever the order of the request tensors, and copied row by row', () => {
  const names = ['a[0]', 'a[1]', 'b[1]', 'flag'];
  const tensors: Tensor[] = [
    fp32('b', [2, 2], [10, 11, 20, 21]),
    { name: 'flag', datatype: 'BOOL', shape: [2, 1], data: Uint8Array.from([1, 0]) },
    { name: 'a', datatype: 'INT64', shape: [2, 2], data: BigInt64Array.from([1n, 2n, 3n, 4n]) },
  ];
  const l = layout(names, tensors);
  assert.equal(l.positional, false);
  assert.equal(layoutRows(l, tensors), 2);
  const target = new Float64Array(3 * 4).fill(-1);
  copyRows(l, tensors, 0, 2, target, 1);
  assert.deepEqual(Array.from(target), [-1, -1, -1, -1, 1, 2, 11, 1, 3, 4, 21, 0]);
  // The same names and widths in the same order fit; another order needs its own layout.
  assert.equal(layoutFits(l, tensors), true);
  assert.equal(layoutFits(l, [tensors[2]!, tensors[0]!, tensors[1]!]), false);
  assert.equal(layoutFits(l, [fp32('b', [1, 3], [0, 0, 0]), tensors[1]!, tensors[2]!]), false);
});

test('names that do not match fall back to position over the numeric tensors; otherwise the reason', () => {
  const tensors: Tensor[] = [fp32('input', [1, 3], [5, 6, 7]), { name: 'text', datatype: 'BYTES', shape: [1], data: [new Uint8Array(2)] }];
  const l = layout(['x[0]', 'x[1]', 'x[2]'], tensors);
  assert.equal(l.positional, true);
  const target = new Float64Array(3);
  copyRows(l, tensors, 0, 1, target, 0);
  assert.deepEqual(Array.from(target), [5, 6, 7]);
  assert.match(String(resolveLayout(['x[0]', 'x[1]'], tensors)), /2 features .* input \(FP32, 3 per row\)/);
  // Inputs whose batch sizes disagree are not rows of one table.
  const uneven = [fp32('a', [2, 1], [1, 2]), fp32('b', [3, 1], [1, 2, 3])];
  assert.equal(layoutRows(layout(['a', 'b'], uneven), uneven), -1);
});
