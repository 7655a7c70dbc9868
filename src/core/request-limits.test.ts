import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isModelportError } from './errors.js';
import { checkInputCount, checkOutputCount, checkParameterCount, checkTensorShape, DEFAULT_REQUEST_LIMITS, TensorBytesBudget, type RequestLimits } from './request-limits.js';

const limits: RequestLimits = { maxInputs: 2, maxOutputs: 3, maxTensorElements: 100, maxStringTensorElements: 4, maxStringElementBytes: 5, maxTensorBytes: 64 };

function tooLarge(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_REQUEST_TOO_LARGE' && pattern.test(error.message));
}

test('counts of inputs, outputs and parameters name the limit and the setting', () => {
  checkInputCount(2, limits);
  tooLarge(() => checkInputCount(3, limits), /^the request has 3 inputs; the limit is 2 inputs per request \(maxRequestInputs, --max-request-inputs\)$/);
  checkOutputCount(3, limits);
  tooLarge(() => checkOutputCount(4, limits), /names 4 outputs; the limit is 3 outputs per request \(maxRequestOutputs/);
  checkParameterCount(256, 'the request');
  tooLarge(() => checkParameterCount(257, "input 'x'"), /^input 'x' has 257 parameters; the limit is 256$/);
});

test('a shape is bounded per dimension, in rank and in elements; BYTES has its own element limit', () => {
  assert.equal(checkTensorShape('x', 'FP32', [10, 10], limits), 100);
  assert.equal(checkTensorShape('x', 'FP32', [0, 100], limits), 0);
  tooLarge(() => checkTensorShape('x', 'FP32', [0, 101], limits), /input 'x' has a dimension of 101 \(shape \[0,101\]\)/);
  tooLarge(() => checkTensorShape('x', 'FP32', [11, 10], limits), /input 'x' has 110 elements .*the limit is 100 elements per tensor \(maxTensorElements/);
  // A product past 2^53 is still refused, never wrapped.
  tooLarge(() => checkTensorShape('x', 'FP32', [100, 100, 100, 100, 100, 100, 100, 100, 100], limits), /elements/);
  tooLarge(() => checkTensorShape('x', 'FP32', new Array(65).fill(1), limits), /65 dimensions; the limit is 64/);
  assert.equal(checkTensorShape('s', 'BYTES', [2, 2], limits), 4);
  tooLarge(() => checkTensorShape('s', 'BYTES', [5], limits), /limit is 4 elements per BYTES tensor \(maxStringTensorElements/);
});

test('the bytes budget adds fixed-size inputs from their shape and BYTES inputs as sent raw', () => {
  const budget = new TensorBytesBudget(limits);
  budget.addElements('a', 'FP64', 4); // 32
  budget.addTensor({ name: 's', datatype: 'BYTES', shape: [2], data: [new Uint8Array(5), new Uint8Array(3)] }); // 4+5 + 4+3 = 16
  tooLarge(() => budget.addElements('b', 'INT32', 5), /the inputs take 68 bytes once decoded \(up to and including 'b'\); the limit is 64 bytes per request \(maxRequestTensorBytes/);
  tooLarge(
    () => new TensorBytesBudget(limits).addTensor({ name: 's', datatype: 'BYTES', shape: [1], data: [new Uint8Array(6)] }),
    /element 0 of BYTES input 's' is 6 bytes; the limit is 5 bytes per BYTES element \(maxStringElementBytes/,
  );
});

test('the defaults fit the example models and Triton\'s 64 MiB', () => {
  assert.equal(DEFAULT_REQUEST_LIMITS.maxTensorBytes, 64 * 1024 * 1024);
  // text_direction's largest batch: 64 × 3 × 48 × 192.
  assert.ok(checkTensorShape('x', 'FP32', [64, 3, 48, 192], DEFAULT_REQUEST_LIMITS) > 0);
});
