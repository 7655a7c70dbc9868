/**
 * The engine on its own thread: a job runs to the same output as in this thread, errors cross
 * with their codes (a row refused by the model lands in the errors file, a failing model ends the
 * job with its code), the thread runs at a low OS priority while it works, and only whole buffers
 * are moved between threads.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isModelportError, mpError, type Tensor } from '../core/index.js';
import { BatchEngine } from './batch-engine.js';
import type { BatchInferencer, BatchModel } from './batch-types.js';
import { runOnEngineThread, transferable } from './engine-thread.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-engine-thread-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MODEL: BatchModel = { name: 'm', version: '1', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }], maxBatchSize: 8 };

/** Doubles x; refuses any batch holding a negative value (so those rows fail alone), or everything. */
class Model implements BatchInferencer {
  constructor(private readonly fail?: 'gone') {}
  async describe(): Promise<BatchModel> {
    return structuredClone(MODEL);
  }
  async infer(inputs: Tensor[]): Promise<Tensor[]> {
    if (this.fail === 'gone') throw mpError('MP_ERR_MODEL_UNKNOWN', "model 'm' is gone");
    const x = inputs[0]!.data as Float32Array;
    if (x.some((v) => v < 0)) throw mpError('MP_ERR_INPUT_SHAPE', 'negative values are refused');
    return [{ name: 'y', datatype: 'FP32', shape: [...inputs[0]!.shape], data: x.map((v) => v * 2) }];
  }
}

function input(rows: number): string {
  const path = join(dir, `in-${rows}.jsonl`);
  let text = '';
  for (let i = 0; i < rows; i++) text += `${JSON.stringify({ id: `r${i}`, x: [i === 7 ? -1 : i, 0.5] })}\n`;
  writeFileSync(path, text);
  return path;
}

/** Threads of this process running at nice 19 (Linux), read from /proc. */
function niceThreads(): number {
  try {
    return readdirSync('/proc/self/task').filter((task) => {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16] === '19';
    }).length;
  } catch {
    return -1;
  }
}

describe('engine thread', () => {
  test('runs a job to the bytes the engine writes in this thread; refused rows cross with their reason', async () => {
    const path = input(50);
    const here = join(dir, 'here.jsonl');
    const there = join(dir, 'there.jsonl');
    await new BatchEngine().run({ model: 'm', input: path, output: here, idColumn: 'id', partitionRows: 16 }, new Model());
    let sawLowPriority = false;
    const progress: number[] = [];
    const summary = await runOnEngineThread({ model: 'm', input: path, output: there, idColumn: 'id', partitionRows: 16 }, {
      describe: () => new Model().describe(),
      infer: async (inputs) => {
        if (niceThreads() > 0) sawLowPriority = true;
        return new Model().infer(inputs);
      },
    }, { onProgress: (p) => progress.push(p.rowsDone) });
    assert.deepEqual(readFileSync(there), readFileSync(here));
    assert.deepEqual(readFileSync(`${there}.errors.jsonl`), readFileSync(`${here}.errors.jsonl`));
    assert.match(readFileSync(`${there}.errors.jsonl`, 'utf8'), /"id":"r7","reason":"negative values are refused"/);
    assert.equal(summary.rowsIn, 50);
    assert.equal(summary.rowsFailed, 1);
    assert.ok(progress.length > 0);
    if (niceThreads() >= 0) assert.ok(sawLowPriority, 'the engine thread runs at nice 19');
  });

  test('a failure that ends the job comes back with its code; cancelling stops it', async () => {
    const path = input(40);
    await assert.rejects(
      runOnEngineThread({ model: 'm', input: path, output: join(dir, 'gone.jsonl') }, new Model('gone')),
      (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_MODEL_UNKNOWN',
    );
    const controller = new AbortController();
    const slow: BatchInferencer = {
      describe: () => new Model().describe(),
      infer: async (inputs) => {
        controller.abort();
        return new Model().infer(inputs);
      },
    };
    await assert.rejects(
      runOnEngineThread({ model: 'm', input: path, output: join(dir, 'cancelled.jsonl'), partitionRows: 8 }, slow, { signal: controller.signal }),
      (error: unknown) => isModelportError(error) && error.kind === 'CANCELLED',
    );
    assert.equal(existsSync(join(dir, 'cancelled.jsonl')), false);
  });

  test('only buffers a tensor fills are moved', () => {
    const whole = new Float32Array(4);
    const shared = new Float32Array(8);
    const tensors: Tensor[] = [
      { name: 'a', datatype: 'FP32', shape: [4], data: whole },
      { name: 'b', datatype: 'FP32', shape: [4], data: whole },
      { name: 'c', datatype: 'FP32', shape: [4], data: shared.subarray(4) },
      { name: 'd', datatype: 'BYTES', shape: [1], data: [new Uint8Array(2)] },
    ];
    assert.deepEqual(transferable(tensors), [whole.buffer]);
  });
});
