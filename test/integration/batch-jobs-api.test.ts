/**
 * Batch jobs over the REST API of a real `modelport serve --data-root DIR` on the `mlp` example:
 * a CSV uploaded and run to the end (every row out, in order, with the model's outputs), jobs
 * listed and read, a running job cancelled, paths that try to leave the data root answered 4xx,
 * the routes in the OpenAPI document, and a job whose server was killed (SIGKILL) mid-way resumed
 * by the next server on the same data root. Online latency (p99 of single-row requests) with and
 * without a job running is printed, not asserted: the job runs at batch priority, behind them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { assertClose, referenceRun } from '../fixtures/reference-model.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';

const FEATURES = 256;
const SMALL = 2_000;
const LARGE = 16_000;
const columns = Array.from({ length: FEATURES }, (_, j) => `f${j}`);
const mlpPath = join(examplesDir, 'mlp', '1', 'model.onnx');

let dir: string;
let root: string;
let server: ServerProcess | undefined;

interface Job {
  id: string;
  state: string;
  spec: Record<string, unknown>;
  progress: { rowsDone: number; rowsFailed: number; rowsTotal?: number; partitionsDone: number; partitionsTotal?: number };
  summary?: { rowsIn: number; rowsOut: number; rowsFailed: number; output: string; errors: string; partitionsResumed: number; rowsPerSecond: number };
  error?: { code: string; message: string };
  runs: number;
}

/** Row i's features: small exact binary fractions, written and read back without rounding. */
function features(i: number): number[] {
  return Array.from({ length: FEATURES }, (_, j) => (((i * 31 + j * 17) % 64) - 32) / 16);
}

function csv(rows: number): string {
  const lines = [`id,${columns.join(',')}`];
  for (let i = 0; i < rows; i++) lines.push(`c${i},${features(i).join(',')}`);
  return `${lines.join('\n')}\n`;
}

function serverArgs(): string[] {
  return ['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp', '--data-root', root];
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${server!.url}${path}`, {
    method,
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

function createJob(input: string, output: string, extra: Record<string, unknown> = {}) {
  return call('POST', '/v1/jobs', { model: 'mlp', input, output, id_column: 'id', map: { input: columns }, partition_rows: 1024, ...extra });
}

async function waitFor(id: string, predicate: (job: Job) => boolean, what: string, timeoutMs = 120_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, json } = await call('GET', `/v1/jobs/${id}`);
    assert.equal(status, 200, JSON.stringify(json));
    if (predicate(json as Job)) return json as Job;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(json)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const ended = (job: Job) => ['succeeded', 'failed', 'cancelled'].includes(job.state);

/** Latencies of single-row infer requests, one after another, while `keepGoing` says so. */
async function onlineLatencies(count: number, keepGoing: () => boolean = () => true): Promise<number[]> {
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, FEATURES], data: features(7) }] });
  const latencies: number[] = [];
  for (let i = 0; i < count && keepGoing(); i++) {
    const started = performance.now();
    const response = await fetch(`${server!.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await response.arrayBuffer();
    assert.equal(response.status, 200);
    latencies.push(performance.now() - started);
  }
  return latencies;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? NaN;
}

function readCsvIds(path: string): string[] {
  return readFileSync(path, 'utf8').trim().split('\n').slice(1).map((line) => line.slice(0, line.indexOf(',')));
}

before(async () => {
  await prepareExamples();
  dir = mkdtempSync(join(tmpdir(), 'modelport-jobs-api-'));
  root = join(dir, 'data');
  mkdirSync(join(root, 'inputs'), { recursive: true });
  writeFileSync(join(root, 'inputs', 'large.csv'), csv(LARGE));
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside', 'secret.csv'), csv(3));
  symlinkSync(join(dir, 'outside'), join(root, 'escape'));
  server = await startServer(serverArgs());
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('batch jobs over REST', () => {
  test('an uploaded CSV runs to the end: every row out, in order, with the model\'s outputs', async () => {
    const upload = await fetch(`${server!.url}/v1/jobs/uploads?format=csv`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: csv(SMALL) });
    assert.equal(upload.status, 201);
    const { path } = (await upload.json()) as { path: string };
    assert.match(path, /^uploads\/[0-9a-f-]+\.csv$/);

    const created = await createJob(path, 'results/small.csv');
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.state, 'queued');
    assert.deepEqual(created.json.spec, { model: 'mlp', input: path, output: 'results/small.csv', map: { input: columns }, idColumn: 'id', partitionRows: 1024 });
    const done = await waitFor(created.json.id, ended, 'the job to end');
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.deepEqual([done.summary?.rowsIn, done.summary?.rowsOut, done.summary?.rowsFailed, done.summary?.output], [SMALL, SMALL, 0, 'results/small.csv']);
    assert.deepEqual([done.progress.partitionsDone, done.progress.partitionsTotal], [2, 2]);

    const lines = readFileSync(join(root, 'results', 'small.csv'), 'utf8').trim().split('\n');
    assert.equal(lines[0], `id,index,${Array.from({ length: 10 }, (_, k) => `output[${k}]`).join(',')}`);
    assert.equal(lines.length, SMALL + 1);
    lines.slice(1).forEach((line, i) => assert.ok(line.startsWith(`c${i},${i},`), `row ${i}: ${line.slice(0, 20)}`));
    const checked = 64;
    const reference = await referenceRun(mlpPath, { input: { type: 'float32', data: Float32Array.from(Array.from({ length: checked }, (_, i) => features(i)).flat()), dims: [checked, FEATURES] } });
    for (let i = 0; i < checked; i++) {
      assertClose(lines[i + 1]!.split(',').slice(2).map(Number), reference.output!.subarray(i * 10, i * 10 + 10), 1e-5, `row ${i}`);
    }

    const list = await call('GET', '/v1/jobs');
    assert.equal(list.status, 200);
    assert.ok((list.json as Job[]).some((job) => job.id === created.json.id && job.state === 'succeeded'));
    const again = await call('POST', `/v1/jobs/${created.json.id}/cancel`);
    assert.equal(again.status, 409);
    assert.match(again.json.error, /already succeeded/);
  });

  test('online latency with and without a job running at batch priority (printed, not asserted)', async () => {
    await onlineLatencies(50);
    const idle = await onlineLatencies(300);
    const created = await createJob('inputs/large.csv', 'results/large.csv');
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.id as string;
    await waitFor(id, (job) => job.state === 'running' && job.progress.rowsDone > 0, 'the job to run');
    let running = true;
    const watcher = (async () => {
      while (running) {
        const { json } = await call('GET', `/v1/jobs/${id}`);
        if (ended(json as Job)) running = false;
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const busy = await onlineLatencies(300, () => running);
    await watcher;
    const done = await waitFor(id, ended, 'the job to end');
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    process.stdout.write(
      `# online p99 of single-row requests: ${p99(idle).toFixed(2)} ms idle (${idle.length} requests), ` +
        `${p99(busy).toFixed(2)} ms while a ${LARGE}-row job ran at batch priority (${busy.length} requests; job at ${Math.round(done.summary?.rowsPerSecond ?? 0)} rows/s)\n`,
    );
  });

  test('a running job is cancelled between batches; its partial results are removed', async () => {
    const created = await createJob('inputs/large.csv', 'results/cancelled.csv');
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.id as string;
    await waitFor(id, (job) => job.state === 'running' && job.progress.rowsDone > 0, 'the job to run');
    const cancelled = await call('POST', `/v1/jobs/${id}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json));
    assert.equal(cancelled.json.state, 'cancelled');
    assert.ok(cancelled.json.progress.rowsDone < LARGE);
    assert.equal((await call('GET', `/v1/jobs/${id}`)).json.state, 'cancelled');
    const again = await call('POST', `/v1/jobs/${id}/cancel`);
    assert.equal(again.status, 409);
    assert.match(again.json.error, /been cancelled/);
    assert.equal(existsSync(join(root, 'results', 'cancelled.csv')), false);
    assert.equal(existsSync(join(root, 'results', 'cancelled.csv.parts')), false);
  });

  test('paths leaving the data root, bad fields and unknown jobs are answered 4xx with {error}', async () => {
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ input: '../outside/secret.csv', output: 'x.csv' }, 400, /'\.\.'/],
      [{ input: 'inputs/../../outside/secret.csv', output: 'x.csv' }, 400, /'\.\.'/],
      [{ input: join(dir, 'outside', 'secret.csv'), output: 'x.csv' }, 400, /absolute/],
      [{ input: 'escape/secret.csv', output: 'x.csv' }, 400, /outside the data root/],
      [{ input: 'inputs/large.csv', output: 'escape/stolen.csv' }, 400, /outside the data root/],
      [{ input: 'inputs/large.csv', output: '../stolen.csv' }, 400, /'\.\.'/],
      [{ input: 'inputs/large.csv', output: '/tmp/stolen.csv' }, 400, /absolute/],
      [{ input: 'inputs/large.csv', output: '.modelport/jobs/evil.json' }, 400, /\.modelport/],
      [{ input: 'inputs/missing.csv', output: 'x.csv' }, 400, /does not exist/],
      [{ input: 'inputs/large.csv', output: 'x.csv', model: 'nope' }, 400, /unknown model/],
      [{ input: 'inputs/large.csv', output: 'x.csv', batch_size: 0 }, 400, /batch_size/],
      [{ input: 'inputs/large.csv', output: 'x.csv', partition_row: 5 }, 400, /partition_row is not a known field/],
    ];
    for (const [fields, status, pattern] of cases) {
      const { input, output, ...extra } = fields;
      const response = await createJob(input as string, output as string, extra);
      assert.equal(response.status, status, `${JSON.stringify(fields)}: ${JSON.stringify(response.json)}`);
      assert.match(response.json.error, pattern, JSON.stringify(fields));
    }
    const missing = await call('GET', '/v1/jobs/no-such-job');
    assert.equal(missing.status, 404);
    assert.match(missing.json.error, /no batch job/);
    assert.equal((await call('POST', '/v1/jobs/no-such-job/cancel')).status, 404);
    const asText = await fetch(`${server!.url}/v1/jobs/uploads?format=csv`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv(2) });
    assert.equal(asText.status, 201, 'any Content-Type is taken for an upload');
    const badFormat = await fetch(`${server!.url}/v1/jobs/uploads?format=exe`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
    assert.equal(badFormat.status, 400);
    const notJson = await fetch(`${server!.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    assert.equal(notJson.status, 400);
    assert.deepEqual(readFileSync(join(dir, 'outside', 'secret.csv'), 'utf8'), csv(3), 'nothing outside was touched');
  });

  test('the jobs routes are in the OpenAPI document', async () => {
    const { status, json } = await call('GET', '/docs/json');
    assert.equal(status, 200);
    for (const path of ['/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/cancel', '/v1/jobs/uploads']) assert.ok(json.paths[path], `${path} documented`);
    assert.ok(json.paths['/v1/jobs'].post.requestBody, 'the create body is documented');
  });

  test('a job whose server was killed resumes on the next server with the same data root', async () => {
    const created = await createJob('inputs/large.csv', 'results/resumed.csv');
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.id as string;
    const before = await waitFor(id, (job) => job.progress.partitionsDone >= 2 || ended(job), 'two partitions');
    assert.equal(before.state, 'running', 'still running when the server is killed');
    await server!.stop('SIGKILL');
    server = await startServer(serverArgs());
    const done = await waitFor(id, ended, 'the resumed job');
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.runs, 2);
    assert.ok((done.summary?.partitionsResumed ?? 0) >= 2, `partitions resumed: ${done.summary?.partitionsResumed}`);
    const ids = readCsvIds(join(root, 'results', 'resumed.csv'));
    assert.equal(ids.length, LARGE);
    ids.forEach((rowId, i) => assert.equal(rowId, `c${i}`));
  });
});
