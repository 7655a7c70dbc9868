/**
 * The server's job manager against a fake model that doubles its input: paths that could leave the
 * data root refused (`..`, absolute paths, symbolic links out of it, the state folder), jobs
 * created, listed, read and cancelled (queued and running), failures recorded, uploads stored
 * atomically within their size limit, and a job stopped with the server resumed from its done
 * partitions by the next start, ending with the same bytes as an uninterrupted run.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { isModelportError, unknownModelError, type ErrorCode, type Tensor } from '../core/index.js';
import type { DataPlaneApi } from '../dataplane/index.js';
import type { BatchInferencer, BatchModel } from './batch-types.js';
import { JobManager, type JobManagerOptions, type JobRecord, type JobState } from './job-manager.js';

const base = mkdtempSync(join(tmpdir(), 'job-manager-'));
after(() => rmSync(base, { recursive: true, force: true }));
let roots = 0;

const MODEL: BatchModel = { name: 'double', version: '1', digest: 'sha256:aa', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }], maxBatchSize: 4 };

/** Doubles x; each request waits `delayMs`, so a test can catch a job while it runs. */
class Doubler implements BatchInferencer {
  rows = 0;
  constructor(readonly delayMs = 0) {}
  async describe(): Promise<BatchModel> {
    return structuredClone(MODEL);
  }
  async infer(inputs: Tensor[]): Promise<Tensor[]> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const x = inputs[0]!;
    this.rows += x.shape[0]!;
    return [{ name: 'y', datatype: 'FP32', shape: [...x.shape], data: (x.data as Float32Array).map((v) => v * 2) }];
  }
}

/** Only what the manager asks the data plane itself: whether the model exists. */
const dataPlane = {
  modelMetadata(name: string) {
    if (name !== 'double') throw unknownModelError(name);
    return { name, versions: ['1'], platform: 'onnxruntime_onnx', inputs: [], outputs: [] };
  },
} as unknown as DataPlaneApi;

function newRoot(rows = 40): string {
  const root = join(base, `root${roots++}`);
  mkdirSync(join(root, 'data'), { recursive: true });
  let text = '';
  for (let i = 0; i < rows; i++) text += `${JSON.stringify({ id: `r${i}`, x: [i, i + 0.5] })}\n`;
  writeFileSync(join(root, 'data', 'in.jsonl'), text);
  return root;
}

async function startManager(root: string, inferencer: () => BatchInferencer, options: Partial<JobManagerOptions> = {}): Promise<JobManager> {
  const manager = new JobManager({ dataRoot: root, dataPlane, createInferencer: inferencer, progressPersistMs: 0, ...options });
  await manager.start();
  return manager;
}

async function until(manager: JobManager, id: string, predicate: (record: JobRecord) => boolean, what: string): Promise<JobRecord> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const record = manager.get(id);
    if (predicate(record)) return record;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; job is ${JSON.stringify(record)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const ended = (state: JobState) => state === 'succeeded' || state === 'failed' || state === 'cancelled';

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isModelportError(error), `expected a ModelportError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return;
  }
  assert.fail(`expected ${code}`);
}

describe('JobManager', () => {
  test('refuses paths that could lead outside the data root', async () => {
    const root = newRoot();
    const outside = join(base, `outside${roots++}`);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.jsonl'), '{"x":[1,2]}\n');
    symlinkSync(join(outside, 'secret.jsonl'), join(root, 'data', 'link.jsonl'));
    symlinkSync(outside, join(root, 'data', 'elsewhere'));
    symlinkSync(outside, join(root, 'data', 'out.jsonl.parts'));
    const manager = await startManager(root, () => new Doubler());
    const job = (input: string, output = 'data/out2.jsonl') => manager.create({ model: 'double', input, output, idColumn: 'id' });
    await rejectsWith(job('../outside/secret.jsonl'), 'MP_ERR_JOB_INVALID', /'\.\.'/);
    await rejectsWith(job('data/../../x.jsonl'), 'MP_ERR_JOB_INVALID', /'\.\.'/);
    await rejectsWith(job(join(outside, 'secret.jsonl')), 'MP_ERR_JOB_INVALID', /absolute/);
    await rejectsWith(job('C:\\data\\in.jsonl'), 'MP_ERR_JOB_INVALID', /absolute/);
    await rejectsWith(job(''), 'MP_ERR_JOB_INVALID');
    await rejectsWith(job('data/link.jsonl'), 'MP_ERR_JOB_INVALID', /outside the data root/);
    await rejectsWith(job('data/elsewhere/secret.jsonl'), 'MP_ERR_JOB_INVALID', /outside the data root/);
    await rejectsWith(job('data/in.jsonl', 'data/elsewhere/out.jsonl'), 'MP_ERR_JOB_INVALID', /outside the data root/);
    await rejectsWith(job('data/in.jsonl', 'data/elsewhere/new/deeper/out.jsonl'), 'MP_ERR_JOB_INVALID', /outside the data root/);
    await rejectsWith(job('data/in.jsonl', '../out.jsonl'), 'MP_ERR_JOB_INVALID', /'\.\.'/);
    await rejectsWith(job('data/in.jsonl', '/tmp/out.jsonl'), 'MP_ERR_JOB_INVALID', /absolute/);
    await rejectsWith(job('data/in.jsonl', 'data/out.jsonl'), 'MP_ERR_JOB_INVALID', /symbolic link/);
    await rejectsWith(job('data/in.jsonl', '.modelport/jobs/x.json'), 'MP_ERR_JOB_INVALID', /\.modelport/);
    await rejectsWith(job('data/missing.jsonl'), 'MP_ERR_JOB_INPUT', /does not exist/);
    await rejectsWith(manager.create({ model: 'nope', input: 'data/in.jsonl', output: 'data/o.jsonl' }), 'MP_ERR_MODEL_UNKNOWN');
    await rejectsWith(manager.create({ model: 'double', input: 'data/in.jsonl', output: 'data/o.jsonl', batchSize: 0 }), 'MP_ERR_JOB_INVALID', /batch size/);
    assert.deepEqual(manager.list(), [], 'nothing refused was recorded');
    assert.deepEqual(readdirSync(outside).sort(), ['secret.jsonl'], 'nothing was written outside');
    await manager.close();
  });

  test('runs a job to the end: output under the data root, progress, summary with relative paths, listed and read', async () => {
    const root = newRoot(40);
    const manager = await startManager(root, () => new Doubler());
    const created = await manager.create({ model: 'double', input: 'data/in.jsonl', output: 'results/new/out.jsonl', idColumn: 'id', partitionRows: 10 });
    assert.equal(created.state, 'queued');
    assert.equal(created.runs, 0);
    const done = await until(manager, created.id, (r) => ended(r.state), 'the job to end');
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const rows = readFileSync(join(root, 'results', 'new', 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; index: number; y: number[] });
    assert.equal(rows.length, 40);
    rows.forEach((row, i) => assert.deepEqual(row, { id: `r${i}`, index: i, y: [2 * i, 2 * i + 1] }));
    assert.equal(done.summary?.output, 'results/new/out.jsonl');
    assert.equal(done.summary?.errors, 'results/new/out.jsonl.errors.jsonl');
    assert.deepEqual([done.summary?.rowsIn, done.summary?.rowsOut, done.progress.rowsDone, done.progress.partitionsDone, done.progress.partitionsTotal], [40, 40, 40, 4, 4]);
    assert.ok(done.startedAt !== null && done.endedAt !== null && done.endedAt >= done.startedAt);
    // The record is written just after the state changes in memory.
    const recordFile = join(root, '.modelport', 'jobs', `${created.id}.json`);
    const deadline = Date.now() + 5000;
    while ((JSON.parse(readFileSync(recordFile, 'utf8')) as JobRecord).state !== 'succeeded' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(JSON.parse(readFileSync(recordFile, 'utf8')), done);
    const second = await manager.create({ model: 'double', input: 'data/in.jsonl', output: 'data/out2.jsonl', idColumn: 'id' });
    assert.deepEqual(manager.list().map((r) => r.id), [second.id, created.id], 'newest first');
    await until(manager, second.id, (r) => ended(r.state), 'the second job to end');
    await rejectsWith(manager.cancel(created.id), 'MP_ERR_JOB_STATE', /already succeeded/);
    assert.throws(() => manager.get('no-such-job'), (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_JOB_UNKNOWN');
    await manager.close();
    await rejectsWith(manager.create({ model: 'double', input: 'data/in.jsonl', output: 'data/o.jsonl' }), 'MP_ERR_SERVER_STOPPING');
  });

  test('cancels a queued job at once and a running one between batches, removing its partial results', async () => {
    const root = newRoot(400);
    const manager = await startManager(root, () => new Doubler(5));
    const running = await manager.create({ model: 'double', input: 'data/in.jsonl', output: 'data/a.jsonl', idColumn: 'id', partitionRows: 20 });
    const queued = await manager.create({ model: 'double', input: 'data/in.jsonl', output: 'data/b.jsonl', idColumn: 'id' });
    await rejectsWith(manager.create({ model: 'double', input: 'data/in.jsonl', output: 'data/a.jsonl' }), 'MP_ERR_JOB_STATE', /already writing/);
    await until(manager, running.id, (r) => r.progress.partitionsDone >= 1, 'a partition of the first job');
    const cancelledQueued = await manager.cancel(queued.id);
    assert.equal(cancelledQueued.state, 'cancelled');
    assert.equal(cancelledQueued.runs, 0, 'it never ran');
    const cancelled = await manager.cancel(running.id);
    assert.equal(cancelled.state, 'cancelled');
    assert.ok(cancelled.progress.rowsDone < 400);
    assert.equal(existsSync(join(root, 'data', 'a.jsonl')), false, 'no output');
    assert.equal(existsSync(join(root, 'data', 'a.jsonl.parts')), false, 'no partial results left');
    await rejectsWith(manager.cancel(running.id), 'MP_ERR_JOB_STATE', /cancelled/);
    await manager.close();
  });

  test('a job that cannot run is recorded as failed with the reason', async () => {
    const root = newRoot(10);
    writeFileSync(join(root, 'data', 'in.txt'), 'x\n');
    const manager = await startManager(root, () => new Doubler());
    const job = await manager.create({ model: 'double', input: 'data/in.txt', output: 'data/out.jsonl' });
    const failed = await until(manager, job.id, (r) => ended(r.state), 'the job to fail');
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'MP_ERR_JOB_INVALID');
    assert.match(failed.error?.message ?? '', /cannot tell the format/);
    await manager.close();
  });

  test('a job stopped with the server resumes at the next start from its done partitions, with the same bytes', async () => {
    const reference = newRoot(300);
    const once = await startManager(reference, () => new Doubler());
    const plain = await once.create({ model: 'double', input: 'data/in.jsonl', output: 'data/out.jsonl', idColumn: 'id', partitionRows: 20 });
    await until(once, plain.id, (r) => ended(r.state), 'the reference job');
    await once.close();

    const root = newRoot(300);
    const first = new Doubler(3);
    const manager = await startManager(root, () => first);
    const job = await manager.create({ model: 'double', input: 'data/in.jsonl', output: 'data/out.jsonl', idColumn: 'id', partitionRows: 20 });
    await until(manager, job.id, (r) => r.progress.partitionsDone >= 3, 'three partitions');
    await manager.close();
    const stopped = JSON.parse(readFileSync(join(root, '.modelport', 'jobs', `${job.id}.json`), 'utf8')) as JobRecord;
    assert.equal(stopped.state, 'running', 'left running on disk for the next start');
    assert.equal(existsSync(join(root, 'data', 'out.jsonl')), false);
    const rowsBefore = first.rows;

    const second = new Doubler();
    const restarted = await startManager(root, () => second);
    const resumed = await until(restarted, job.id, (r) => ended(r.state), 'the resumed job');
    assert.equal(resumed.state, 'succeeded', JSON.stringify(resumed.error));
    assert.equal(resumed.runs, 2);
    assert.ok((resumed.summary?.partitionsResumed ?? 0) >= 3, `resumed ${resumed.summary?.partitionsResumed} partitions`);
    assert.ok(second.rows <= 300 - 60, `the second run inferred ${second.rows} rows, the first ${rowsBefore}`);
    assert.deepEqual(readFileSync(join(root, 'data', 'out.jsonl')), readFileSync(join(reference, 'data', 'out.jsonl')));
    await restarted.close();
  });

  test('uploads land complete under uploads/, within the size limit', async () => {
    const root = newRoot(1);
    const manager = await startManager(root, () => new Doubler(), { maxUploadBytes: 64 });
    const text = '{"id":"a","x":[1,2]}\n{"id":"b","x":[3,4]}\n';
    const { path } = await manager.upload(Readable.from([Buffer.from(text.slice(0, 10)), Buffer.from(text.slice(10))]), { format: 'jsonl' });
    assert.match(path, /^uploads\/[0-9a-f-]{36}\.jsonl$/);
    assert.equal(readFileSync(join(root, path), 'utf8'), text);
    const job = await manager.create({ model: 'double', input: path, output: 'data/from-upload.jsonl', idColumn: 'id' });
    assert.equal((await until(manager, job.id, (r) => ended(r.state), 'the job')).state, 'succeeded');
    await rejectsWith(manager.upload(Readable.from([Buffer.alloc(40), Buffer.alloc(40)]), { format: 'csv' }), 'MP_ERR_UPLOAD_TOO_LARGE');
    assert.deepEqual(readdirSync(join(root, 'uploads')), [path.slice('uploads/'.length)], 'the refused upload left nothing');
    await manager.close();
  });
});
