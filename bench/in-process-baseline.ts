/**
 * Baseline A of the benchmark: the model run by onnxruntime-node inside the benchmark process, with
 * the session options Modelport's workers use, no HTTP, no queue and no thread hop. It sweeps batch
 * sizes up to the model's max_batch_size to find the best items/s, and times batch-1 runs one by
 * one for the latency floor. Both one intra-op thread and one per core are tried, because on small
 * models the extra threads can cost more in hand-offs than they save; each figure keeps the
 * better setting and says which it was.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { buildSessionOptions } from '../src/runtime/onnx/session-options.js';
import { inputData, type BenchModel } from './bench-payloads.js';
import { percentile } from './load-client.js';

export interface BatchFigure {
  batch: number;
  itemsPerSecond: number;
  msPerRun: number;
}

export interface ThreadSetting {
  threads: number;
  batches: BatchFigure[];
  best: BatchFigure;
  batch1P50Ms: number;
  batch1P99Ms: number;
}

export interface InProcessResult {
  settings: ThreadSetting[];
  /** Best items/s over batch sizes and thread settings, and where it was reached. */
  best: BatchFigure & { threads: number };
  /** Batch-1 items/s and latency of the thread setting with the lower batch-1 p50. */
  batch1: BatchFigure & { threads: number; p50Ms: number; p99Ms: number };
  /** Output of the batch-1 input, to check Modelport's answers against. */
  batch1Output: Float32Array;
}

export function batchSizes(maxBatchSize: number): number[] {
  const sizes: number[] = [];
  for (let b = 1; b <= maxBatchSize; b *= 2) sizes.push(b);
  if (sizes.at(-1) !== maxBatchSize) sizes.push(maxBatchSize);
  return sizes;
}

export async function measureInProcess(model: BenchModel, modelPath: string, threadCounts: number[], budgetMs: number): Promise<InProcessResult> {
  const settings: ThreadSetting[] = [];
  let batch1Output: Float32Array | undefined;
  for (const threads of threadCounts) {
    const session = await InferenceSession.create(modelPath, buildSessionOptions(threads));
    try {
      const batches: BatchFigure[] = [];
      let batch1P50Ms = Number.NaN;
      let batch1P99Ms = Number.NaN;
      for (const batch of batchSizes(model.maxBatchSize)) {
        const feeds = { [model.inputName]: new Tensor('float32', inputData(model, batch), [batch, ...model.featureShape]) };
        // Warm-up: first runs of a shape plan memory and fill caches.
        const warmUntil = performance.now() + budgetMs * 0.2;
        let out = await session.run(feeds);
        while (performance.now() < warmUntil) out = await session.run(feeds);
        if (batch === 1) batch1Output ??= new Float32Array(out[model.outputName]!.data as Float32Array);

        // Batch 1 gets a longer window: its per-run times are the latency floor.
        const window = batch === 1 ? budgetMs * 2 : budgetMs;
        const times: number[] = [];
        const start = process.hrtime.bigint();
        const end = start + BigInt(Math.round(window * 1e6));
        let runs = 0;
        let now = start;
        while (now < end || runs < 3) {
          const before = now;
          await session.run(feeds);
          now = process.hrtime.bigint();
          runs += 1;
          if (batch === 1) times.push(Number(now - before) / 1e6);
        }
        const seconds = Number(now - start) / 1e9;
        batches.push({ batch, itemsPerSecond: (runs * batch) / seconds, msPerRun: (seconds * 1000) / runs });
        if (batch === 1) {
          const sorted = Float64Array.from(times).sort();
          batch1P50Ms = percentile(sorted, 50);
          batch1P99Ms = percentile(sorted, 99);
        }
      }
      const best = batches.reduce((a, b) => (b.itemsPerSecond > a.itemsPerSecond ? b : a));
      settings.push({ threads, batches, best, batch1P50Ms, batch1P99Ms });
    } finally {
      await session.release();
    }
  }
  if (batch1Output === undefined) throw new Error(`no thread setting was measured for ${model.name}`);
  const bestSetting = settings.reduce((a, b) => (b.best.itemsPerSecond > a.best.itemsPerSecond ? b : a));
  const latencySetting = settings.reduce((a, b) => (b.batch1P50Ms < a.batch1P50Ms ? b : a));
  return {
    settings,
    best: { ...bestSetting.best, threads: bestSetting.threads },
    batch1: { ...latencySetting.batches[0]!, threads: latencySetting.threads, p50Ms: latencySetting.batch1P50Ms, p99Ms: latencySetting.batch1P99Ms },
    batch1Output,
  };
}
