/**
 * Unit tests of the transfer plan: buffers a tensor owns are transferred as they are; views into
 * larger, pooled or shared memory are copied so posting never detaches memory other code uses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import type { Tensor } from '../../core/index.js';
import { packBytes, planTransfer } from './tensor-transfer.js';

function tensor(data: Tensor['data'], datatype: Tensor['datatype'] = 'FP32'): Tensor {
  return { name: 't', datatype, shape: [Array.isArray(data) ? data.length : data.length], data };
}

describe('planTransfer', () => {
  it('transfers a typed array that covers its whole buffer, without copying', () => {
    const data = new Float32Array([1, 2, 3]);
    const plan = planTransfer([tensor(data)]);
    assert.equal(plan.tensors[0]!.data, data);
    assert.deepEqual(plan.transfer, [data.buffer]);
  });

  it('copies a view into a larger buffer (an HTTP body slice) and transfers only the copy', () => {
    const body = new ArrayBuffer(64);
    const view = new Float32Array(body, 8, 4);
    view.set([1, 2, 3, 4]);
    const plan = planTransfer([tensor(view)]);
    const sent = plan.tensors[0]!.data as Float32Array;
    assert.notEqual(sent.buffer, body);
    assert.ok(sent instanceof Float32Array);
    assert.deepEqual(Array.from(sent), [1, 2, 3, 4]);
    assert.deepEqual(plan.transfer, [sent.buffer]);
  });

  it('copies Node Buffers from the shared pool and SharedArrayBuffer views', () => {
    const pooled = Buffer.from([1, 2, 3]);
    assert.ok(pooled.buffer.byteLength > pooled.byteLength, 'small Buffers come from the pool');
    const shared = new Int32Array(new SharedArrayBuffer(8));
    const plan = planTransfer([tensor(pooled, 'UINT8'), tensor(shared, 'INT32')]);
    for (const sent of plan.tensors) {
      const data = sent.data as Uint8Array;
      assert.ok(data.buffer instanceof ArrayBuffer);
      assert.equal(data.byteOffset, 0);
      assert.equal(data.byteLength, data.buffer.byteLength);
    }
    assert.ok(plan.tensors[1]!.data instanceof Int32Array);
    assert.equal(plan.transfer.length, 2);
  });

  it('gives a byte copy the array class of its datatype', () => {
    const bytes = Buffer.from(new Float64Array([0.5, 1.5]).buffer.slice(0)).subarray(0, 8);
    const plan = planTransfer([tensor(bytes, 'FP64')]);
    assert.ok(plan.tensors[0]!.data instanceof Float64Array);
    assert.deepEqual(Array.from(plan.tensors[0]!.data as Float64Array), [0.5]);
  });

  it('lists a buffer shared by two tensors once', () => {
    const data = new Float32Array(4);
    const plan = planTransfer([tensor(data), { ...tensor(data), name: 'u' }]);
    assert.equal(plan.transfer.length, 1);
  });

  it('packs BYTES views of a larger buffer into one owned buffer, and keeps a packed list as is', () => {
    const body = new Uint8Array([9, 9, 104, 105, 9, 120]);
    const items = [body.subarray(2, 4), body.subarray(5, 6)];
    const plan = planTransfer([tensor(items, 'BYTES')]);
    const sent = plan.tensors[0]!.data as Uint8Array[];
    assert.notEqual(sent[0]!.buffer, body.buffer);
    assert.deepEqual(sent.map((item) => Array.from(item)), [[104, 105], [120]]);
    assert.deepEqual(plan.transfer, [sent[0]!.buffer]);

    const packed = packBytes(items);
    const again = planTransfer([tensor(packed, 'BYTES')]);
    assert.equal(again.tensors[0]!.data, packed);
    assert.deepEqual(again.transfer, [packed[0]!.buffer]);
    assert.deepEqual(planTransfer([tensor([], 'BYTES')]).transfer, []);
  });

  it('posting with the plan detaches only owned buffers and delivers views intact', async () => {
    const owned = new BigInt64Array([2n ** 60n + 1n]);
    const body = new Uint8Array(16);
    const slice = new Uint8Array(body.buffer, 4, 4);
    slice.set([1, 2, 3, 4]);
    const plan = planTransfer([tensor(owned, 'INT64'), tensor(slice, 'UINT8'), tensor(packBytes([slice, slice]), 'BYTES')]);
    const { port1, port2 } = new MessageChannel();
    const received = new Promise<Tensor[]>((resolve) => port2.once('message', resolve));
    port1.postMessage(plan.tensors, plan.transfer);
    const tensors = await received;
    port1.close();
    assert.equal(owned.byteLength, 0, 'owned buffer was transferred');
    assert.equal(body.byteLength, 16, 'the body a view came from is untouched');
    assert.deepEqual(tensors[0]!.data, new BigInt64Array([2n ** 60n + 1n]));
    assert.deepEqual(Array.from(tensors[1]!.data as Uint8Array), [1, 2, 3, 4]);
    const bytes = tensors[2]!.data as Uint8Array[];
    assert.equal(bytes[0]!.buffer, bytes[1]!.buffer);
    assert.deepEqual(bytes.map((item) => Array.from(item)), [[1, 2, 3, 4], [1, 2, 3, 4]]);
  });
});
