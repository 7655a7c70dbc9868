/**
 * `modelport batch` end to end on the `mlp` example (256 floats in, 10 floats out), run as a user
 * runs it: JSONL, CSV (256 columns mapped onto the one input) and Parquet, in-process and against
 * a running server (--url), bad rows in the errors file, exit codes, and a job killed with SIGKILL
 * half-way that resumes to exactly the input's rows, byte-identical to an uninterrupted run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { createRowWriter, openRowReader, type InputRecord } from '../../src/jobs/formats/index.js';
import { modelport } from '../fixtures/cli-runner.js';
import { assertClose, referenceRun } from '../fixtures/reference-model.js';
import { examplesDir, repoRoot, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { hasChrt } from '../fixtures/thread-scheduling.js';

const FEATURES = 256;
const ROWS = 300;
const mlpPath = join(examplesDir, 'mlp', '1', 'model.onnx');
const columns = Array.from({ length: FEATURES }, (_, j) => `f${j}`);

let dir: string;
let expected: number[][];

/** Row i's features: small exact binary fractions, so every format carries them without rounding. */
function features(i: number): number[] {
  return Array.from({ length: FEATURES }, (_, j) => (((i * 31 + j * 17) % 64) - 32) / 16);
}

function jsonLines(rows: number): string {
  let text = '';
  for (let i = 0; i < rows; i++) text += `${JSON.stringify({ id: `r${i}`, input: features(i) })}\n`;
  return text;
}

async function referenceOutputs(rows: number): Promise<number[][]> {
  const data = Float32Array.from(Array.from({ length: rows }, (_, i) => features(i)).flat());
  const result = await referenceRun(mlpPath, { input: { type: 'float32', data, dims: [rows, FEATURES] } });
  return Array.from({ length: rows }, (_, i) => Array.from(result.output!.subarray(i * 10, i * 10 + 10)));
}

interface JsonlOutput {
  id: string;
  index: number;
  output: number[];
}

function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as T);
}

async function readAll(path: string, format: 'csv' | 'parquet' | 'jsonl'): Promise<InputRecord[]> {
  const records: InputRecord[] = [];
  for await (const record of openRowReader(path, { format, idColumn: 'id' })) records.push(record);
  return records;
}

before(async () => {
  await prepareExamples();
  dir = mkdtempSync(join(tmpdir(), 'modelport-batch-'));
  expected = await referenceOutputs(ROWS);
  const bad = ['not json', JSON.stringify({ id: 'short', input: [1, 2, 3] }), JSON.stringify({ id: 'text', input: [...features(0).slice(1), 'x'] })];
  writeFileSync(join(dir, 'in.jsonl'), jsonLines(ROWS) + `${bad.join('\n')}\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('modelport batch', () => {
  test('JSONL in-process: every good row out with the model\'s outputs, bad rows in the errors file, a summary', async () => {
    const { code, stdout, stderr } = await modelport(
      'batch', 'mlp', '--model-repository', examplesDir, '--input', join(dir, 'in.jsonl'), '--output', join(dir, 'out.jsonl'), '--id-column', 'id',
    );
    assert.equal(code, 0, stderr);
    const rows = readJsonl<JsonlOutput>(join(dir, 'out.jsonl'));
    assert.equal(rows.length, ROWS);
    rows.forEach((row, i) => {
      assert.equal(row.id, `r${i}`);
      assert.equal(row.index, i);
      assertClose(row.output, expected[i]!, 1e-5, `row ${i}`);
    });
    const errors = readJsonl<{ index: number; id: string; reason: string }>(join(dir, 'out.jsonl.errors.jsonl'));
    assert.deepEqual(errors.map((e) => [e.index, e.id]), [[ROWS, String(ROWS)], [ROWS + 1, 'short'], [ROWS + 2, 'text']]);
    assert.match(errors[0]!.reason, /not valid JSON/);
    assert.match(errors[1]!.reason, /3 values, expected 256/);
    assert.match(errors[2]!.reason, /'x'/);
    assert.match(stdout, /rows in:\s+303/);
    assert.match(stdout, /rows out:\s+300/);
    assert.match(stdout, /failed rows:\s+3 \(reasons in .*out\.jsonl\.errors\.jsonl\)/);
    assert.match(stdout, /throughput:\s+\d+ rows\/s/);
    assert.match(stdout, /elapsed:/);
    assert.equal(existsSync(join(dir, 'out.jsonl.parts')), false);
  });

  test('CSV with 256 columns mapped onto the one input, CSV out, on two model instances', async () => {
    let text = `id,${columns.join(',')},label\n`;
    for (let i = 0; i < ROWS; i++) text += `c${i},${features(i).join(',')},x\n`;
    text += `bad,${features(0).slice(1).join(',')},oops,x\n`;
    writeFileSync(join(dir, 'in.csv'), text);
    const { code, stderr } = await modelport(
      'batch', 'mlp', '--model-repository', examplesDir, '--input', join(dir, 'in.csv'), '--output', join(dir, 'out.csv'),
      '--id-column', 'id', '--map', `input=${columns.join(',')}`, '--batch-size', '64', '--instances', '2',
    );
    assert.equal(code, 0, stderr);
    const lines = readFileSync(join(dir, 'out.csv'), 'utf8').trim().split('\n');
    assert.equal(lines[0], `id,index,${Array.from({ length: 10 }, (_, k) => `output[${k}]`).join(',')}`);
    assert.equal(lines.length, ROWS + 1);
    lines.slice(1).forEach((line, i) => {
      const cells = line.split(',');
      assert.equal(cells[0], `c${i}`);
      assertClose(cells.slice(2).map(Number), expected[i]!, 1e-5, `row ${i}`);
    });
    const errors = readJsonl<{ id: string; reason: string }>(join(dir, 'out.csv.errors.jsonl'));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.id, 'bad');
    assert.match(errors[0]!.reason, /field 'f255'/);
  });

  test('Parquet in and out', async () => {
    // Input written with the formats module's own writer: columns id, index, input[0]…input[255].
    const input = join(dir, 'in.parquet');
    const writer = await createRowWriter(input, 'parquet', { outputs: [{ name: 'input', datatype: 'FP32', shape: [FEATURES] }] });
    await writer.write(Array.from({ length: ROWS }, (_, i) => ({ index: i, id: `p${i}`, outputs: [{ name: 'input', datatype: 'FP32' as const, shape: [FEATURES], values: Float32Array.from(features(i)) }] })));
    await writer.close();
    const names = Array.from({ length: FEATURES }, (_, j) => `input[${j}]`);
    const { code, stderr } = await modelport(
      'batch', 'mlp', '--model-repository', examplesDir, '--input', input, '--output', join(dir, 'out.parquet'), '--id-column', 'id', '--map', `input=${names.join(',')}`,
      '--partition-rows', '128',
    );
    assert.equal(code, 0, stderr);
    const records = await readAll(join(dir, 'out.parquet'), 'parquet');
    assert.equal(records.length, ROWS);
    records.forEach((record, i) => {
      assert.equal(record.id, `p${i}`);
      const outputs = Array.from({ length: 10 }, (_, k) => Number(record.fields![`output[${k}]`]));
      assertClose(outputs, expected[i]!, 1e-5, `row ${i}`);
    });
  });

  test('bad command lines exit 2, jobs that cannot run exit 1', async () => {
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'never.jsonl');
    const cases: Array<[string[], number, RegExp]> = [
      [['--input', input, '--output', output], 2, /--model-repository DIR .* or --url/],
      [['--model-repository', examplesDir, '--url', 'http://127.0.0.1:1', '--input', input, '--output', output], 2, /not both/],
      [['--model-repository', examplesDir, '--input', input, '--output', output, '--map', 'input'], 2, /--map expects INPUT=FIELD/],
      [['--model-repository', examplesDir, '--input', input, '--output', output, '--batch-size', '0'], 2, /--batch-size expects a positive integer/],
      [['--model-repository', examplesDir, '--input', input, '--output', output, '--batch-size', '1000'], 2, /max_batch_size 128/],
      [['--model-repository', examplesDir, '--input', input, '--output', output, '--map', 'nope=a'], 2, /not an input of the model/],
      [['--model-repository', examplesDir, '--input', input, '--output', output, '--instances', '0'], 2, /--instances expects a positive integer/],
      [['--url', 'http://127.0.0.1:1', '--input', input, '--output', output, '--instances', '2'], 2, /a server keeps its own/],
      [['--model-repository', examplesDir, '--input', join(dir, 'missing.jsonl'), '--output', output], 1, /does not exist/],
      [['--url', 'http://127.0.0.1:1', '--input', input, '--output', output], 1, /cannot reach/],
    ];
    // In parallel: each run is mostly the command's start-up.
    const [unknown, ...results] = await Promise.all([
      modelport('batch', 'nope', '--model-repository', examplesDir, '--input', input, '--output', output),
      ...cases.map(([args]) => modelport('batch', 'mlp', ...args)),
    ]);
    cases.forEach(([args, exit, message], i) => {
      assert.equal(results[i]!.code, exit, `${args.join(' ')}: ${results[i]!.stderr}`);
      assert.match(results[i]!.stderr, message);
    });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /cannot load model 'nope'/);
    assert.equal(existsSync(output), false);
  });

  describe('against a running server (--url)', () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp']);
    });
    after(async () => {
      await server.stop();
    });

    test('sends the rows to the server; the output is byte-identical to the in-process run', async () => {
      const { code, stderr, stdout } = await modelport(
        'batch', 'mlp', '--url', server.url, '--input', join(dir, 'in.jsonl'), '--output', join(dir, 'remote.jsonl'), '--id-column', 'id',
      );
      assert.equal(code, 0, stderr);
      assert.match(stdout, /rows out:\s+300/);
      // Offline work beside a server: the client leaves the cores to it (SCHED_IDLE where chrt exists).
      assert.match(stdout, process.platform === 'linux' && hasChrt() ? /cpu priority:\s+spare CPU only \(SCHED_IDLE\)/ : /cpu priority:\s+(spare CPU only|lowered)/);
      assert.deepEqual(readFileSync(join(dir, 'remote.jsonl')), readFileSync(join(dir, 'out.jsonl')));
      assert.deepEqual(readFileSync(join(dir, 'remote.jsonl.errors.jsonl')), readFileSync(join(dir, 'out.jsonl.errors.jsonl')));
    });
  });

  test('a job killed with SIGKILL resumes to exactly the input\'s rows, byte-identical to an uninterrupted run', async () => {
    const rows = 60_000;
    const input = join(dir, 'big.jsonl');
    // Small integer features keep the file (and the test) small; the model does not mind.
    let text = '';
    for (let i = 0; i < rows; i++) {
      const values = Array.from({ length: FEATURES }, (_, j) => (i * 7 + j * 13) % 10);
      text += `{"id":"k${i}","input":[${values.join(',')}]}\n`;
    }
    writeFileSync(input, text);
    text = '';
    const args = (output: string): string[] => [
      'batch', 'mlp', '--model-repository', examplesDir, '--input', input, '--output', output, '--id-column', 'id',
      '--partition-rows', '1000', '--batch-size', '32', '--concurrency', '2',
    ];
    const whole = await modelport(...args(join(dir, 'whole.jsonl')));
    assert.equal(whole.code, 0, whole.stderr);

    const output = join(dir, 'killed.jsonl');
    const parts = `${output}.parts`;
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'modelport.js'), ...args(output)], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    const donePart = (): boolean => existsSync(parts) && readdirSync(parts).some((name) => /^part-\d+\.jsonl$/.test(name));
    while (!donePart() && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGKILL');
    const [, signal] = (await exited) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL', 'the job was still running when killed');
    assert.equal(existsSync(output), false);
    const done = readdirSync(parts).filter((name) => /^part-\d+\.jsonl$/.test(name)).length;
    assert.ok(done >= 1 && done < 60, `${done} partitions done when killed`);

    // The same job with other settings is refused, and changes nothing.
    const other = await modelport(...args(output).map((a) => (a === '32' ? '16' : a)), '--resume');
    assert.equal(other.code, 1);
    assert.match(other.stderr, /cannot resume .*--batch-size changed \(was 32, now 16\)/);

    const resumed = await modelport(...args(output), '--resume');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resumed:\s+\d+ of 60 partitions were already done/);
    assert.match(resumed.stdout, /rows out:\s+60000/);
    const ids = readFileSync(output, 'utf8').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as JsonlOutput).id);
    assert.equal(ids.length, rows);
    assert.equal(new Set(ids).size, rows, 'no row twice');
    ids.forEach((id, i) => assert.equal(id, `k${i}`));
    assert.ok(readFileSync(output).equals(readFileSync(join(dir, 'whole.jsonl'))), 'byte-identical to the uninterrupted run');
    assert.equal(readFileSync(`${output}.errors.jsonl`, 'utf8'), '');
    assert.equal(existsSync(parts), false);
  });
});
