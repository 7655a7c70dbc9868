/**
 * The ceiling the batch benchmark compares against: the `mlp` model run by onnxruntime-node in the
 * benchmark's own process, with the session options Modelport's workers use and one intra-op thread
 * per core, on batches of the same size as the batch job's, the rows already in memory as
 * Float32Arrays. No file is read, no number parsed, no output written; one batch runs at a time,
 * back to back. Rows/s over a fixed window after a warm-up.
 */
import { availableParallelism } from 'node:os';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { buildSessionOptions } from '../src/runtime/onnx/session-options.js';
import { FEATURES, featureRows } from './batch-data.js';

export interface BaselineFigure {
  rowsPerSecond: number;
  batches: number;
  threads: number;
}

export interface BaselineModel {
  session: InferenceSession;
  threads: number;
  inputName: string;
  outputName: string;
  /** Distinct batches cycled through (the input file's first rows). */
  pool: Tensor[];
  batchSize: number;
}

/** Rows cycled through by the baseline: enough distinct batches that caches do not flatter it. */
const POOL_ROWS = 8192;

export async function openBaseline(modelPath: string, batchSize: number, inputName = 'input', outputName = 'output'): Promise<BaselineModel> {
  const threads = availableParallelism();
  const session = await InferenceSession.create(modelPath, buildSessionOptions(threads));
  const batches = Math.max(1, Math.floor(POOL_ROWS / batchSize));
  const rows = featureRows(batches * batchSize);
  const pool: Tensor[] = [];
  for (let b = 0; b < batches; b++) {
    pool.push(new Tensor('float32', rows.slice(b * batchSize * FEATURES, (b + 1) * batchSize * FEATURES), [batchSize, FEATURES]));
  }
  return { session, threads, inputName, outputName, pool, batchSize };
}

/** Outputs (row-major) of the first batch of the pool: the file's first rows, to check Modelport's against. */
export async function firstBatchOutputs(model: BaselineModel): Promise<Float32Array> {
  const out = await model.session.run({ [model.inputName]: model.pool[0]! });
  return new Float32Array(out[model.outputName]!.data as Float32Array);
}

export async function measureBaseline(model: BaselineModel, warmupMs: number, windowMs: number): Promise<BaselineFigure> {
  const { session, pool, inputName, batchSize } = model;
  let next = 0;
  const run = async (): Promise<void> => {
    await session.run({ [inputName]: pool[next]! });
    next = (next + 1) % pool.length;
  };
  const warmUntil = performance.now() + warmupMs;
  do await run();
  while (performance.now() < warmUntil);
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(windowMs * 1e6));
  let batches = 0;
  let now = start;
  while (now < end || batches < 3) {
    await run();
    batches++;
    now = process.hrtime.bigint();
  }
  const seconds = Number(now - start) / 1e9;
  return { rowsPerSecond: (batches * batchSize) / seconds, batches, threads: model.threads };
}
