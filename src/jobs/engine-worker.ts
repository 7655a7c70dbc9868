/**
 * The engine thread's entry (see engine-thread.ts): runs BatchEngine.run for the job in
 * workerData with an inferencer that asks the main thread for each describe() and infer(), posts
 * progress (at most every PROGRESS_MS, and whenever a partition completes) and then the summary or
 * the error. A 'cancel' message aborts the run between batches, as the job's signal would.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runOnSpareCpu, type Tensor } from '../core/index.js';
import { BatchEngine } from './batch-engine.js';
import type { BatchInferencer, BatchModel, BatchProgress } from './batch-types.js';
import { fromWire, toWire, transferable, type EngineThreadData, type FromEngine, type ToEngine } from './engine-thread.js';

const PROGRESS_MS = 100;

const port = parentPort!;
const data = workerData as EngineThreadData;
const controller = new AbortController();
const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let nextId = 0;

function post(message: FromEngine, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function ask<T>(message: (id: number) => FromEngine, transfer: ArrayBuffer[] = []): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
    post(message(id), transfer);
  });
}

port.on('message', (message: ToEngine) => {
  if (message.type === 'cancel') {
    controller.abort();
    return;
  }
  const pending = waiting.get(message.id);
  if (pending === undefined) return;
  waiting.delete(message.id);
  if (message.ok) pending.resolve(message.value);
  else pending.reject(fromWire(message.error));
});

const inferencer: BatchInferencer = {
  describe: () => ask<BatchModel>((id) => ({ type: 'describe', id })),
  // The batch's buffers move to the main thread; the engine maps rows afresh for a retry.
  infer: (inputs: Tensor[]) => ask<Tensor[]>((id) => ({ type: 'infer', id, inputs }), transferable(inputs)),
};

let lastPost = 0;
let lastPartitions = -1;
function progress(value: BatchProgress): void {
  const now = performance.now();
  if (now - lastPost < PROGRESS_MS && value.partitionsDone === lastPartitions) return;
  lastPost = now;
  lastPartitions = value.partitionsDone;
  post({ type: 'progress', progress: value });
}

async function main(): Promise<void> {
  // Online requests' threads come first: this thread runs on spare CPU only (where allowed).
  if (data.lowPriority) await runOnSpareCpu();
  try {
    const summary = await new BatchEngine().run(data.spec, inferencer, { ...data.options, signal: controller.signal, onProgress: progress });
    post({ type: 'done', summary });
  } catch (error) {
    post({ type: 'failed', error: toWire(error) });
  } finally {
    // Nothing may keep the thread alive once the job has ended (what was posted is still delivered).
    port.unref();
  }
}

void main();
