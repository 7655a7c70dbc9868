/** Comparing shadow outputs with live ones. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from '../core/index.js';
import { bf16ToNumber, halfToNumber } from '../core/index.js';
import { outputsAgree } from './output-agreement.js';

const fp32 = (name: string, values: number[], shape = [values.length]): Tensor => ({ name, datatype: 'FP32', shape, data: Float32Array.from(values) });
const text = (values: string[]): Uint8Array[] => values.map((v) => new TextEncoder().encode(v));

test('identical outputs agree, in any order', () => {
  const live = [fp32('probabilities', [0.1, 0.9]), { name: 'label', datatype: 'INT64', shape: [1], data: BigInt64Array.from([1n]) } satisfies Tensor];
  assert.equal(outputsAgree(live, [live[1]!, live[0]!]), true);
  assert.equal(outputsAgree([], []), true);
});

test('names, datatypes, shapes and counts must match', () => {
  const live = [fp32('y', [1, 2, 3, 4], [2, 2])];
  assert.equal(outputsAgree(live, [fp32('z', [1, 2, 3, 4], [2, 2])]), false);
  assert.equal(outputsAgree(live, [fp32('y', [1, 2, 3, 4], [4])]), false);
  assert.equal(outputsAgree(live, [fp32('y', [1, 2, 3, 4], [1, 2, 2])]), false);
  assert.equal(outputsAgree(live, [{ name: 'y', datatype: 'FP64', shape: [2, 2], data: Float64Array.from([1, 2, 3, 4]) }]), false);
  assert.equal(outputsAgree(live, [...live, fp32('extra', [1])]), false);
  assert.equal(outputsAgree(live, []), false);
  assert.equal(outputsAgree(live, [fp32('y', [1, 2, 3], [2, 2])]), false);
});

test('floats agree within atol + rtol·|live|', () => {
  const live = [fp32('y', [1000, 0, -2])];
  assert.equal(outputsAgree(live, [fp32('y', [1000.9, 0.000009, -2.0019])]), true);
  assert.equal(outputsAgree(live, [fp32('y', [1001.5, 0, -2])]), false);
  assert.equal(outputsAgree(live, [fp32('y', [1000, 0.0001, -2])]), false);
  assert.equal(outputsAgree(live, [fp32('y', [1001.5, 0.0001, -2])], { rtol: 1e-2, atol: 1e-3 }), true);
  assert.equal(outputsAgree(live, [fp32('y', [1000.0001, 0, -2])], { rtol: 0, atol: 0 }), false);
  const f64 = (values: number[]): Tensor => ({ name: 'd', datatype: 'FP64', shape: [values.length], data: Float64Array.from(values) });
  assert.equal(outputsAgree([f64([1e-300, 5])], [f64([2e-300, 5.004])]), true);
});

test('NaN never agrees; equal infinities do', () => {
  assert.equal(outputsAgree([fp32('y', [Number.NaN])], [fp32('y', [Number.NaN])]), false);
  assert.equal(outputsAgree([fp32('y', [1])], [fp32('y', [Number.NaN])]), false);
  assert.equal(outputsAgree([fp32('y', [Infinity, -Infinity])], [fp32('y', [Infinity, -Infinity])]), true);
  assert.equal(outputsAgree([fp32('y', [Infinity])], [fp32('y', [-Infinity])]), false);
  assert.equal(outputsAgree([fp32('y', [Infinity])], [fp32('y', [3e38])]), false);
});

test('FP16 and BF16 compare their decoded values', () => {
  assert.equal(halfToNumber(0x3c00), 1);
  assert.equal(halfToNumber(0xc000), -2);
  assert.equal(halfToNumber(0x0001), 2 ** -24);
  assert.equal(halfToNumber(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToNumber(0x7e00)));
  assert.equal(bf16ToNumber(0x3f80), 1);
  assert.equal(bf16ToNumber(0xc040), -3);
  const half = (bits: number[]): Tensor => ({ name: 'h', datatype: 'FP16', shape: [bits.length], data: Uint16Array.from(bits) });
  // 0x3c00 = 1 and 0x3c01 = 1.0009765625: within rtol 1e-3 of 1.
  assert.equal(outputsAgree([half([0x3c00])], [half([0x3c01])]), true);
  // Bit patterns are not compared as integers: 1 vs 1.0019531 (0x3c02) is outside.
  assert.equal(outputsAgree([half([0x3c00])], [half([0x3c02])]), false);
  // +0 and −0 differ in bits but agree in value.
  assert.equal(outputsAgree([half([0x0000])], [half([0x8000])]), true);
  const bf = (bits: number[]): Tensor => ({ name: 'b', datatype: 'BF16', shape: [bits.length], data: Uint16Array.from(bits) });
  assert.equal(outputsAgree([bf([0x3f80, 0x4000])], [bf([0x3f80, 0x4000])]), true);
  assert.equal(outputsAgree([bf([0x3f80])], [bf([0x3f81])]), false); // 1 vs 1.0078125
  assert.equal(outputsAgree([bf([0x7fc0])], [bf([0x7fc0])]), false); // NaN
});

test('integers, bool and bytes must match exactly', () => {
  const int32 = (values: number[]): Tensor => ({ name: 'i', datatype: 'INT32', shape: [values.length], data: Int32Array.from(values) });
  assert.equal(outputsAgree([int32([1, 2, 3])], [int32([1, 2, 3])]), true);
  assert.equal(outputsAgree([int32([1, 2, 3])], [int32([1, 2, 4])]), false);
  const int64 = (values: bigint[]): Tensor => ({ name: 'l', datatype: 'INT64', shape: [values.length], data: BigInt64Array.from(values) });
  assert.equal(outputsAgree([int64([9007199254740993n])], [int64([9007199254740993n])]), true);
  assert.equal(outputsAgree([int64([9007199254740993n])], [int64([9007199254740992n])]), false);
  const bool = (values: number[]): Tensor => ({ name: 'b', datatype: 'BOOL', shape: [values.length], data: Uint8Array.from(values) });
  assert.equal(outputsAgree([bool([0, 1, 1])], [bool([0, 1, 255])]), true);
  assert.equal(outputsAgree([bool([0, 1])], [bool([1, 1])]), false);
  const bytes = (values: string[]): Tensor => ({ name: 's', datatype: 'BYTES', shape: [values.length], data: text(values) });
  assert.equal(outputsAgree([bytes(['cat', 'dog'])], [bytes(['cat', 'dog'])]), true);
  assert.equal(outputsAgree([bytes(['cat', 'dog'])], [bytes(['cat', 'dot'])]), false);
  assert.equal(outputsAgree([bytes(['cat', 'dog'])], [bytes(['cat', 'dogs'])]), false);
  assert.equal(outputsAgree([bytes(['cat'])], [{ name: 's', datatype: 'BYTES', shape: [1], data: Uint8Array.from([99, 97, 116]) }]), false);
});

test('duplicate names are paired by position', () => {
  const a = fp32('y', [1]);
  const b = fp32('y', [2]);
  assert.equal(outputsAgree([a, b], [a, b]), true);
  assert.equal(outputsAgree([a, b], [b, a]), false);
});
