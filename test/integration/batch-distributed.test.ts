/**
 * Distributed batch jobs survive a worker killed mid-job: three `modelport worker` processes on a
 * fresh Postgres database and a shared temporary folder take the partitions of a 60,000-row job
 * submitted with `modelport batch-submit`; once one worker has finished a partition and holds the
 * next, it gets SIGKILL. Its partition's message expires (partition timeout 5 s) and another
 * worker redoes it; the job still succeeds, its output holds every input id exactly once, in
 * order, and is byte-identical to a single-process `modelport batch` run of the same input.
 *
 * The model is a small MLP written by the test (4 features → 1024 → 1024 → 2), heavy enough that
 * a partition takes a noticeable time, so the kill lands while the job runs. Every batch is full
 * (1,024 rows per partition, 128 per batch) except the job's last, so batching never differs
 * between the two runs. Needs MODELPORT_TEST_POSTGRES_URL
 * (eval "$(bash scripts/start-test-postgres.sh)"); skipped without it, except under CI=true.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import pg from 'pg';
import { buildMlpModel } from '../../scripts/onnx-builder.js';
import { modelport } from '../fixtures/cli-runner.js';
import { createTestDatabase, POSTGRES_URL_ENV, type TestDatabase } from '../fixtures/postgres.js';
import { repoRoot } from '../fixtures/server-process.js';

const ROWS = 60_000;
const PARTITION_ROWS = 1024;
/** Cores each process may use: the same for the reference run, so inference threads match. */
const CPU_COUNT = '2';
const available = Boolean(process.env[POSTGRES_URL_ENV]);
const required = process.env.CI === 'true';
const bin = join(repoRoot, 'bin', 'modelport.js');

interface WorkerProcess {
  id: string;
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  /** The last of what it wrote to stderr, for the message of a failure. */
  stderr: () => string;
  exited: Promise<unknown>;
}

let database: TestDatabase | undefined;
let dir: string | undefined;
const workers: WorkerProcess[] = [];

after(async () => {
  for (const worker of workers) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGTERM');
  }
  await Promise.all(workers.map((w) => w.exited));
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function writeModel(repository: string): void {
  mkdirSync(join(repository, 'tiny', '1'), { recursive: true });
  writeFileSync(join(repository, 'tiny', '1', 'model.onnx'), buildMlpModel({ inputSize: 4, hiddenSizes: [1024, 1024], outputSize: 2, seed: 7 }));
  writeFileSync(
    join(repository, 'tiny', 'config.json'),
    JSON.stringify({
      name: 'tiny',
      backend: 'onnxruntime',
      max_batch_size: 128,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [4] }],
      output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [2] }],
      instance_group: [{ count: 1, kind: 'KIND_CPU' }],
    }),
  );
}

function writeInput(path: string): void {
  const lines: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    lines.push(JSON.stringify({ id: `r${i}`, input: [((i * 7) % 16) / 8 - 1, ((i * 13) % 16) / 8 - 1, ((i * 3) % 32) / 16 - 1, (i % 5) / 4] }));
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

function startWorker(id: string, url: string, repository: string): WorkerProcess {
  const child = spawn(
    process.execPath,
    [bin, 'worker', '--registry', url, '--model-repository', repository, '--id', id, '--cpu-count', CPU_COUNT, '--maintenance-interval-secs', '1', '--log-format', 'json'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const worker = { id, child, logs, stderr: () => stderr, exited: once(child, 'exit') };
  workers.push(worker);
  return worker;
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function run(args: string[]): { done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { done: once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr })) };
}

test('three workers share a job; one killed with SIGKILL mid-job, the job still ends with every row once, as a single process writes it', {
  skip: !available && !required ? `${POSTGRES_URL_ENV} is not set` : false,
  timeout: 240_000,
}, async () => {
  assert.ok(available, `${POSTGRES_URL_ENV} must be set when CI=true`);
  database = await createTestDatabase();
  assert.ok(database);
  dir = mkdtempSync(join(tmpdir(), 'modelport-distributed-'));
  const repository = join(dir, 'models');
  writeModel(repository);
  const input = join(dir, 'in.jsonl');
  writeInput(input);

  // The reference: one process, same partitions and batch sizes, same inference threads.
  const started = performance.now();
  const reference = await modelport(
    'batch', 'tiny', '--model-repository', repository, '--input', input, '--output', join(dir, 'reference.jsonl'), '--id-column', 'id',
    '--partition-rows', String(PARTITION_ROWS), '--cpu-count', CPU_COUNT,
  );
  assert.equal(reference.code, 0, reference.stderr);
  const singleMs = performance.now() - started;

  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  try {
    const [victim, ...survivors] = ['w0', 'w1', 'w2'].map((id) => startWorker(id, database!.url, repository));
    await waitFor('the workers to be ready', () => {
      // A worker that died will never be ready: say why at once rather than after the timeout.
      const dead = workers.find((w) => w.child.exitCode !== null || w.child.signalCode !== null);
      if (dead) throw new Error(`worker ${dead.id} exited (${dead.child.exitCode ?? dead.child.signalCode}) before it was ready: ${dead.stderr()}`);
      return workers.every((w) => w.logs.some((l) => l.msg === 'batch worker ready')) || undefined;
    }).catch((error: Error) => {
      const states = workers.map((w) => `${w.id}: last log ${JSON.stringify(w.logs.at(-1)?.msg)}, stderr ${JSON.stringify(w.stderr().slice(-500))}`);
      throw new Error(`${error.message}\n${states.join('\n')}`);
    });

    const distributedStart = performance.now();
    const output = join(dir, 'out.jsonl');
    const submit = run([
      'batch-submit', 'tiny', '--registry', database.url, '--model-repository', repository, '--input', input, '--output', output,
      '--id-column', 'id', '--partition-rows', String(PARTITION_ROWS), '--partition-timeout-secs', '5',
    ]);

    // Kill the victim once it has finished a partition and holds another (so that partition is
    // lost with it and must be redelivered), or, failing that within 10 s, as soon as possible.
    await waitFor('the victim to finish a partition', () => victim!.logs.some((l) => l.msg === 'partition done') || undefined);
    const firstDone = performance.now();
    const held = await waitFor('the victim to hold a partition', async () => {
      const { rows } = await pool.query<{ partition_index: number }>(`SELECT partition_index FROM modelport_batch_partitions WHERE worker = 'w0' AND state = 'running'`);
      if (rows[0]) return rows[0].partition_index;
      return performance.now() - firstDone > 10_000 ? -1 : undefined;
    });
    victim!.child.kill('SIGKILL');
    await victim!.exited;
    const doneByVictim = victim!.logs.filter((l) => l.msg === 'partition done').map((l) => l.partition as number);

    const result = await submit.done;
    const distributedMs = performance.now() - distributedStart;
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /state:\s+succeeded/);

    // Every input id exactly once, in input order; the same bytes as the single process wrote.
    const lines = readFileSync(output, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, ROWS);
    const ids = lines.map((line) => (JSON.parse(line) as { id: string }).id);
    assert.equal(new Set(ids).size, ROWS, 'no id twice');
    ids.forEach((id, i) => assert.equal(id, `r${i}`));
    assert.ok(readFileSync(output).equals(readFileSync(join(dir, 'reference.jsonl'))), 'byte-identical to the single-process run');
    assert.equal(readFileSync(`${output}.errors.jsonl`, 'utf8'), '');
    assert.equal(existsSync(`${output}.parts`), false, 'parts removed');
    assert.equal(existsSync(`${output}.parts.staging`), false, 'staging removed');

    // The database agrees: every partition done, and the one the victim held was redone elsewhere.
    const { rows: partitions } = await pool.query<{ partition_index: number; state: string; worker: string; attempts: number }>(
      `SELECT partition_index, state, worker, attempts FROM modelport_batch_partitions ORDER BY partition_index`,
    );
    assert.equal(partitions.length, Math.ceil(ROWS / PARTITION_ROWS));
    assert.ok(partitions.every((p) => p.state === 'done'));
    const { rows: jobs } = await pool.query<{ state: string; merged_by: string }>(`SELECT state, merged_by FROM modelport_batch_jobs`);
    assert.deepEqual(jobs.map((j) => j.state), ['succeeded']);
    assert.ok(survivors.some((w) => w.id === jobs[0]!.merged_by), 'a surviving worker merged');
    if (held >= 0) {
      const redone = partitions.find((p) => p.partition_index === held)!;
      assert.notEqual(redone.worker, 'w0', `partition ${held} was finished by a survivor`);
      assert.ok(redone.attempts >= 2, `partition ${held} was tried ${redone.attempts} times`);
    }
    const perWorker = Object.fromEntries(workers.map((w) => [w.id, w.logs.filter((l) => l.msg === 'partition done').length]));
    process.stdout.write(
      `# distributed: ${ROWS} rows in ${(distributedMs / 1000).toFixed(1)} s with 3 workers (one killed after ${doneByVictim.length} partitions${held >= 0 ? `, holding partition ${held}` : ', between partitions'}); ` +
        `single process ${(singleMs / 1000).toFixed(1)} s; partitions done per worker ${JSON.stringify(perWorker)}\n`,
    );
  } finally {
    await pool.end();
  }
});
