/**
 * The batch engine against a fake model that doubles its input (and refuses any row holding -13,
 * failing the whole request as a real model would): partitions and row order, the errors file,
 * one bad row failing only itself, retries of passing failures, a partition redone giving the same
 * bytes, a resume skipping done partitions and ending byte-identical to an uninterrupted run, a
 * resume refused when input or model changed, cancellation, and the parts folder's handling.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isModelportError, mpError, type ErrorCode, type Tensor } from '../core/index.js';
import { BatchEngine, errorPartPath, partPath } from './batch-engine.js';
import type { BatchInferencer, BatchJobSpec, BatchModel } from './batch-types.js';

const root = mkdtempSync(join(tmpdir(), 'batch-engine-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => {
  const dir = join(root, String(dirs++));
  mkdirSync(dir);
  return dir;
};

class Doubler implements BatchInferencer {
  calls = 0;
  rowsInferred = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** Failures to throw before answering, by code (consumed in order). */
  failures: ErrorCode[] = [];
  delayMs = 0;
  /** The data of every request's first input, as received. */
  received: unknown[] = [];

  constructor(readonly model: BatchModel = { name: 'double', version: '1', digest: 'sha256:aa', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }], maxBatchSize: 4 }) {}

  async describe(): Promise<BatchModel> {
    return structuredClone(this.model);
  }

  async infer(inputs: Tensor[]): Promise<Tensor[]> {
    this.calls++;
    this.received.push(inputs[0]!.data);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      else await Promise.resolve();
      const failure = this.failures.shift();
      if (failure !== undefined) throw mpError(failure, `injected ${failure}`);
      const x = inputs[0]!;
      const data = x.data as Float32Array;
      if (data.includes(-13)) throw mpError('MP_ERR_RUNTIME_FAILED', 'the model cannot take -13');
      this.rowsInferred += x.shape[0]!;
      return [{ name: 'y', datatype: 'FP32', shape: [...x.shape], data: data.map((v) => v * 2) }];
    } finally {
      this.inFlight--;
    }
  }
}

/** JSONL rows {"id": "r<i>", "x": [i, i + 0.5]}. */
function writeRows(path: string, count: number, extra = ''): void {
  let text = '';
  for (let i = 0; i < count; i++) text += `${JSON.stringify({ id: `r${i}`, x: [i, i + 0.5] })}\n`;
  writeFileSync(path, text + extra);
}

function job(dir: string, overrides: Partial<BatchJobSpec> = {}): BatchJobSpec {
  return { model: 'double', input: join(dir, 'in.jsonl'), output: join(dir, 'out.jsonl'), idColumn: 'id', partitionRows: 10, ...overrides };
}

function outputRows(path: string): Array<{ id: string; index: number; y: number[] }> {
  return readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; index: number; y: number[] });
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isModelportError(error), `expected a ModelportError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected ${code}`);
}

/** Output of an uninterrupted run of the same job, for byte comparisons. */
async function reference(count: number, overrides: Partial<BatchJobSpec> = {}, extra = ''): Promise<{ output: Buffer; errors: Buffer }> {
  const dir = newDir();
  writeRows(join(dir, 'in.jsonl'), count, extra);
  const spec = job(dir, overrides);
  await new BatchEngine().run(spec, new Doubler());
  return { output: readFileSync(spec.output), errors: readFileSync(`${spec.output}.errors.jsonl`) };
}

describe('BatchEngine', () => {
  test('writes every row once, in input order, keyed by id and index, across partitions', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 25);
    const spec = job(dir);
    const progress: number[] = [];
    const summary = await new BatchEngine().run(spec, new Doubler(), { onProgress: (p) => progress.push(p.rowsDone) });
    const rows = outputRows(spec.output);
    assert.equal(rows.length, 25);
    rows.forEach((row, i) => assert.deepEqual(row, { id: `r${i}`, index: i, y: [2 * i, 2 * i + 1] }));
    assert.equal(readFileSync(`${spec.output}.errors.jsonl`, 'utf8'), '');
    assert.equal(existsSync(`${spec.output}.parts`), false, 'the parts folder is removed');
    assert.deepEqual(
      { rowsIn: summary.rowsIn, rowsOut: summary.rowsOut, rowsFailed: summary.rowsFailed, partitionsTotal: summary.partitionsTotal, partitionsResumed: summary.partitionsResumed },
      { rowsIn: 25, rowsOut: 25, rowsFailed: 0, partitionsTotal: 3, partitionsResumed: 0 },
    );
    assert.equal(progress.at(-1), 25);
    assert.ok(summary.rowsPerSecond > 0);
  });

  test('bad rows go to the errors file with their reasons; one bad row in a batch fails only itself', async () => {
    const dir = newDir();
    const input = join(dir, 'in.jsonl');
    writeRows(input, 12);
    appendFileSync(input, 'not json\n{"id":"short","x":[1]}\n{"id":"thirteen","x":[-13,1]}\n{"id":"last","x":[1,1]}\n');
    const spec = job(dir);
    const model = new Doubler();
    const summary = await new BatchEngine().run(spec, model);
    const errors = readFileSync(`${spec.output}.errors.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; id: string; reason: string });
    assert.deepEqual(errors.map((e) => [e.index, e.id]), [[12, '12'], [13, 'short'], [14, 'thirteen']]);
    assert.match(errors[0]!.reason, /not valid JSON/);
    assert.match(errors[1]!.reason, /1 values, expected 2/);
    assert.match(errors[2]!.reason, /cannot take -13/);
    const rows = outputRows(spec.output);
    assert.deepEqual(rows.map((r) => r.index), [...Array.from({ length: 12 }, (_, i) => i), 15]);
    assert.deepEqual(rows.at(-1), { id: 'last', index: 15, y: [2, 2] });
    assert.deepEqual([summary.rowsIn, summary.rowsOut, summary.rowsFailed], [16, 13, 3]);
  });

  test('a request failing for a passing reason (queue full, timeout) is tried again', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 8);
    const model = new Doubler();
    model.failures = ['MP_ERR_QUEUE_FULL', 'MP_ERR_REQUEST_TIMEOUT'];
    const spec = job(dir);
    const summary = await new BatchEngine().run(spec, model, { concurrency: 1 });
    assert.equal(summary.rowsFailed, 0);
    assert.equal(outputRows(spec.output).length, 8);
    // Each try maps the rows afresh: in-process, a request's buffers may have moved to a worker.
    assert.equal(new Set(model.received.slice(0, 3)).size, 3);
    assert.deepEqual(model.received[2], model.received[0]);
  });

  test('a failure that is not about the rows (model gone) stops the job, keeping done partitions', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 30);
    const model = new Doubler();
    const engine = new BatchEngine();
    const spec = job(dir);
    // Partition 0 (3 batches) succeeds, then the model disappears.
    model.failures = [];
    const original = model.infer.bind(model);
    model.infer = async (inputs) => {
      if (model.calls >= 3) {
        model.calls++;
        throw mpError('MP_ERR_MODEL_UNKNOWN', "Request for unknown model: 'double' is not found");
      }
      return original(inputs);
    };
    await rejectsWith(engine.run(spec, model, { concurrency: 1 }), 'MP_ERR_MODEL_UNKNOWN');
    const parts = readdirSync(`${spec.output}.parts`).sort();
    assert.deepEqual(parts, ['manifest.json', 'part-00000.errors.jsonl', 'part-00000.jsonl']);
    assert.equal(existsSync(spec.output), false);
  });

  test('keeps several batches in flight, never more than the concurrency', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 200);
    const model = new Doubler();
    model.delayMs = 2;
    await new BatchEngine().run(job(dir, { partitionRows: 30 }), model, { concurrency: 3 });
    assert.equal(model.maxInFlight, 3);
  });

  test('redoing a partition rewrites identical bytes', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 25, '{"id":"bad","x":"no"}\n');
    const engine = new BatchEngine();
    const model = new Doubler();
    const plan = await engine.plan(job(dir), await model.describe());
    const partition = plan.partitions[2]!;
    const first = await engine.runPartition(plan, partition, model);
    const bytes = readFileSync(partPath(plan.partsDir, partition, 'jsonl'));
    const errorBytes = readFileSync(errorPartPath(plan.partsDir, partition));
    const second = await engine.runPartition(plan, partition, model);
    assert.deepEqual(readFileSync(partPath(plan.partsDir, partition, 'jsonl')), bytes);
    assert.deepEqual(readFileSync(errorPartPath(plan.partsDir, partition)), errorBytes);
    assert.deepEqual([first.rowsOut, first.rowsFailed], [5, 1]);
    assert.deepEqual(second, first);
    assert.equal(readdirSync(plan.partsDir).filter((f) => f.endsWith('.tmp')).length, 0, 'no temporary file left');
  });

  test('a resume skips the partitions already done and ends byte-identical to an uninterrupted run', async () => {
    const expected = await reference(45, {}, '{"id":"bad","x":[1]}\n');
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 45, '{"id":"bad","x":[1]}\n');
    const spec = job(dir);
    const engine = new BatchEngine();
    // An earlier run that got through partitions 0 and 2 (the next partition is pipelined, so
    // a later one can be done while an earlier one is not), then died.
    const first = new Doubler();
    const plan = await engine.plan(spec, await first.describe());
    await engine.runPartition(plan, plan.partitions[0]!, first);
    await engine.runPartition(plan, plan.partitions[2]!, first);
    writeFileSync(`${partPath(plan.partsDir, plan.partitions[1]!, 'jsonl')}.tmp`, 'half a part');

    const second = new Doubler();
    const summary = await engine.run(spec, second, { resume: true });
    assert.equal(second.rowsInferred, 46 - 20 - 1, 'only the partitions not done are inferred');
    assert.equal(summary.partitionsResumed, 2);
    assert.deepEqual([summary.rowsIn, summary.rowsOut, summary.rowsFailed], [46, 45, 1]);
    assert.deepEqual(readFileSync(spec.output), expected.output);
    assert.deepEqual(readFileSync(`${spec.output}.errors.jsonl`), expected.errors);
  });

  test('--resume without an earlier run starts the job', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 5);
    const summary = await new BatchEngine().run(job(dir), new Doubler(), { resume: true });
    assert.deepEqual([summary.rowsOut, summary.partitionsResumed], [5, 0]);
  });

  test('a resume is refused when the input, the model or the settings changed', async () => {
    const dir = newDir();
    const input = join(dir, 'in.jsonl');
    writeRows(input, 30);
    const spec = job(dir);
    const engine = new BatchEngine();
    const model = new Doubler();
    await engine.plan(spec, await model.describe());

    const otherDigest = new Doubler({ ...model.model, digest: 'sha256:bb' });
    await rejectsWith(engine.run(spec, otherDigest, { resume: true }), 'MP_ERR_JOB_RESUME', /model digest changed \(was "sha256:aa", now "sha256:bb"\)/);
    const otherVersion = new Doubler({ ...model.model, version: '2' });
    await rejectsWith(engine.run(spec, otherVersion, { resume: true }), 'MP_ERR_JOB_RESUME', /model version changed/);
    await rejectsWith(engine.run({ ...spec, partitionRows: 7 }, model, { resume: true }), 'MP_ERR_JOB_RESUME', /rows per partition changed \(was 10, now 7\)/);
    await rejectsWith(engine.run({ ...spec, map: { x: ['a', 'b'] } }, model, { resume: true }), 'MP_ERR_JOB_RESUME', /--map changed/);
    appendFileSync(input, '{"id":"new","x":[1,2]}\n');
    await rejectsWith(engine.run(spec, model, { resume: true }), 'MP_ERR_JOB_RESUME', /input file size changed/);
    // Without --resume the job starts over on the new input.
    const summary = await engine.run(spec, model);
    assert.equal(summary.rowsOut, 31);
  });

  test('cancelling stops between batches; the done partitions carry over to a resume', async () => {
    const expected = await reference(60);
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 60);
    const spec = job(dir);
    const engine = new BatchEngine();
    const controller = new AbortController();
    const model = new Doubler();
    model.delayMs = 1;
    await rejectsWith(
      engine.run(spec, model, { signal: controller.signal, onProgress: (p) => (p.partitionsDone >= 1 ? controller.abort() : undefined) }),
      'MP_ERR_REQUEST_CANCELLED',
    );
    assert.ok(model.rowsInferred < 60, `stopped early (${model.rowsInferred} rows inferred)`);
    assert.equal(model.inFlight, 0, 'no request outlives the run');
    const parts = readdirSync(`${spec.output}.parts`);
    assert.ok(parts.includes('part-00000.jsonl'));
    assert.equal(parts.filter((f) => f.endsWith('.tmp')).length, 0);
    const resumed = await engine.run(spec, new Doubler(), { resume: true });
    assert.ok(resumed.partitionsResumed >= 1);
    assert.deepEqual(readFileSync(spec.output), expected.output);
  });

  test('without --resume an earlier parts folder is replaced, but a folder holding other files is left alone', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 12);
    const spec = job(dir);
    const parts = `${spec.output}.parts`;
    mkdirSync(parts);
    writeFileSync(join(parts, 'part-00000.jsonl'), '{"stale":true}\n');
    writeFileSync(join(parts, 'part-00000.errors.jsonl'), '');
    const model = new Doubler();
    await new BatchEngine().run(spec, model);
    assert.equal(model.rowsInferred, 12, 'the stale part was not taken as done');
    assert.equal(outputRows(spec.output).length, 12);

    mkdirSync(parts);
    writeFileSync(join(parts, 'notes.txt'), 'mine');
    await rejectsWith(new BatchEngine().run(spec, model), 'MP_ERR_JOB_STATE', /notes\.txt/);
    assert.equal(readFileSync(join(parts, 'notes.txt'), 'utf8'), 'mine');
  });

  test('CSV in and out, with several columns mapped onto one input', async () => {
    const dir = newDir();
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'key,a,b,c\nk0,1,2,x\nk1,3,4,y\nk2,5,oops,z\n');
    const spec: BatchJobSpec = { model: 'double', input, output: join(dir, 'out.csv'), idColumn: 'key', map: { x: ['a', 'b'] } };
    const summary = await new BatchEngine().run(spec, new Doubler());
    assert.equal(readFileSync(spec.output, 'utf8'), 'id,index,y[0],y[1]\nk0,0,2,4\nk1,1,6,8\n');
    const [error] = readFileSync(`${spec.output}.errors.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; reason: string });
    assert.equal(error!.id, 'k2');
    assert.match(error!.reason, /field 'b'/);
    assert.equal(summary.rowsFailed, 1);
  });

  test('bad job settings are refused before anything is written', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 3);
    const engine = new BatchEngine();
    await rejectsWith(engine.run(job(dir, { batchSize: 5 }), new Doubler()), 'MP_ERR_JOB_INVALID', /max_batch_size 4/);
    await rejectsWith(engine.run(job(dir, { map: { nope: ['a'] } }), new Doubler()), 'MP_ERR_JOB_INVALID', /not an input/);
    await rejectsWith(engine.run(job(dir, { input: join(dir, 'missing.jsonl') }), new Doubler()), 'MP_ERR_JOB_INPUT', /does not exist/);
    assert.equal(existsSync(join(dir, 'out.jsonl.parts')), false);
  });

  test('a model that does not batch gets one row per request', async () => {
    const dir = newDir();
    writeRows(join(dir, 'in.jsonl'), 5);
    const model = new Doubler({ name: 'double', version: '1', inputs: [{ name: 'x', datatype: 'FP32', shape: [2] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [2] }], maxBatchSize: 0 });
    const original = model.infer.bind(model);
    const shapes: number[][] = [];
    model.infer = async (inputs) => {
      shapes.push(inputs[0]!.shape);
      const [y] = await original([{ ...inputs[0]!, shape: [1, 2] }]);
      return [{ ...y!, shape: [2] }];
    };
    const spec = job(dir);
    await new BatchEngine().run(spec, model);
    assert.deepEqual(shapes, Array.from({ length: 5 }, () => [2]));
    assert.deepEqual(outputRows(spec.output).map((r) => r.y), Array.from({ length: 5 }, (_, i) => [2 * i, 2 * i + 1]));
  });
});
