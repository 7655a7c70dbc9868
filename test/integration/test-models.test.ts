/**
 * Checks the rollout test models against onnxruntime-node directly, so rollout tests can rely on
 * their behaviour: the faulty MLP answers like the example for rows with input[0] ≤ 0.5 and fails
 * at run time otherwise, the slow MLP answers like the example only later, and the variant keeps
 * the signature with different answers. Each also goes through a file, as a repository would load it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InferenceSession } from 'onnxruntime-node';
import { EXAMPLE_MLP } from '../../scripts/generate-mlp.js';
import { buildFaultyMlp, buildMlpVariant, buildSlowMlp, FAULTY_THRESHOLD, writeModel } from '../../scripts/generate-test-models.js';
import { buildMlpModel } from '../../scripts/onnx-builder.js';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');

const SIZE = EXAMPLE_MLP.inputSize;
let dir: string;
let reference: InferenceSession;
const sessions: InferenceSession[] = [];

async function open(bytes: Uint8Array, name: string, quiet = false): Promise<InferenceSession> {
  // Through a file, as the server loads models; writeModel creates the folders.
  const path = await writeModel(bytes, join(dir, name, '1', 'model.onnx'));
  assert.deepEqual(new Uint8Array(await readFile(path)), bytes);
  // quiet: the faulty model's expected failures would otherwise each print an ORT error log line.
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, ...(quiet ? { logSeverityLevel: 4 as const } : {}) });
  sessions.push(session);
  return session;
}

/** Rows in [-0.5, 0.5) whose first feature is set to the given values. */
function rows(firsts: number[]): Float32Array {
  const data = new Float32Array(firsts.length * SIZE);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37 + 1) * 0.5;
  firsts.forEach((value, row) => (data[row * SIZE] = value));
  return data;
}

async function run(session: InferenceSession, data: Float32Array): Promise<Float32Array> {
  const batch = data.length / SIZE;
  const result = await session.run({ input: new ort.Tensor('float32', data, [batch, SIZE]) });
  const output = result['output']!;
  assert.deepEqual(output.dims, [batch, EXAMPLE_MLP.outputSize]);
  return output.data as Float32Array;
}

function assertSignature(session: InferenceSession): void {
  assert.deepEqual(session.inputNames, ['input']);
  assert.deepEqual(session.outputNames, ['output']);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'modelport-test-models-'));
  reference = await open(buildMlpModel(EXAMPLE_MLP), 'mlp');
});

after(async () => {
  for (const session of sessions) await session.release();
  await rm(dir, { recursive: true, force: true });
});

describe('faulty MLP', () => {
  let faulty: InferenceSession;
  before(async () => {
    faulty = await open(buildFaultyMlp(), 'faulty', true);
  });

  it('has the example signature', () => assertSignature(faulty));

  it('answers exactly like the example for rows with input[0] <= 0.5', async () => {
    const data = rows([-3, 0, 0.25, FAULTY_THRESHOLD, Number.NaN]);
    assert.deepEqual(await run(faulty, data.slice()), await run(reference, data.slice()));
  });

  for (const first of [0.5001, 0.75, 10]) {
    it(`fails at run time for a row with input[0] = ${first}`, async () => {
      await assert.rejects(run(faulty, rows([first])), /Gather|out of data bounds/);
    });
  }

  it('fails a whole batch holding one bad row, and keeps working afterwards', async () => {
    await assert.rejects(run(faulty, rows([0, 0.9, 0.1])), /out of data bounds/);
    const good = rows([0.1]);
    assert.deepEqual(await run(faulty, good.slice()), await run(reference, good.slice()));
  });
});

describe('slow MLP', () => {
  it('answers like the example, finite, only later', async () => {
    const slow = await open(buildSlowMlp(), 'slow');
    assertSignature(slow);
    const data = rows([0.1, 0.9, -0.4]);
    const output = await run(slow, data.slice());
    assert.ok(output.every(Number.isFinite));
    assert.deepEqual(output, await run(reference, data.slice()));

    const one = rows([0.2]);
    const median = async (session: InferenceSession, n: number): Promise<number> => {
      for (let i = 0; i < 5; i++) await run(session, one.slice());
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const start = process.hrtime.bigint();
        await run(session, one.slice());
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      return times.sort((a, b) => a - b)[n >> 1]!;
    };
    const ratio = (await median(slow, 15)) / (await median(reference, 61));
    // About 40× on one thread where this was written; 10× is what rollout tests count on.
    assert.ok(ratio >= 10, `slow MLP only ${ratio.toFixed(1)}× slower than the example at batch 1`);
  });

  it('takes a factor and refuses a meaningless one', async () => {
    const small = await open(buildSlowMlp(2), 'slow2');
    assert.ok((await run(small, rows([0]))).every(Number.isFinite));
    assert.throws(() => buildSlowMlp(0), /positive integer/);
  });
});

describe('MLP variant', () => {
  it('keeps the signature and answers differently', async () => {
    const variant = await open(buildMlpVariant(EXAMPLE_MLP.seed + 1), 'variant');
    assertSignature(variant);
    const data = rows([0.1, 0.7]);
    const ours = await run(variant, data.slice());
    const theirs = await run(reference, data.slice());
    assert.ok(ours.every(Number.isFinite));
    assert.ok(ours.some((value, i) => Math.abs(value - theirs[i]!) > 1e-3), 'outputs differ from the example');
    assert.deepEqual(buildMlpVariant(EXAMPLE_MLP.seed + 1), buildMlpVariant(EXAMPLE_MLP.seed + 1));
    assert.deepEqual(buildMlpVariant(EXAMPLE_MLP.seed), buildMlpModel(EXAMPLE_MLP));
  });
});
