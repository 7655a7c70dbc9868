/**
 * Runs a batch job's engine on a worker thread, for jobs inside the server: reading, parsing and
 * mapping rows and writing outputs are CPU work, and on the server's main thread they held up
 * every online request behind them (the event loop answers nothing while a block of rows is
 * parsed). Here the main thread only relays: the engine thread asks for describe() and for each
 * batch's infer() by message (the input tensors' buffers are transferred, not copied), this side
 * calls the real inferencer (the data plane, at batch priority), and posts the outputs back.
 * Progress comes by message too, and cancelling is a message the engine thread turns into its
 * abort signal. The engine thread also lowers its own scheduling priority (runOnSpareCpu: SCHED_IDLE
 * on Linux, else nice 19): online requests' threads never wait behind it.
 *
 * Errors cross as { code, message } and come back as ModelportErrors with the same code, so the
 * engine's retry rules and the job manager's handling see what they would see in one thread.
 */
import { Worker } from 'node:worker_threads';
import { isModelportError, mpError, type ErrorCode, type Tensor } from '../core/index.js';
import type { RunOptions } from './batch-engine.js';
import type { BatchInferencer, BatchJobSpec, BatchProgress, BatchSummary } from './batch-types.js';

/** What the main thread sends. */
export type ToEngine =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: WireError }
  | { type: 'cancel' };

/** What the engine thread sends. */
export type FromEngine =
  | { type: 'describe'; id: number }
  | { type: 'infer'; id: number; inputs: Tensor[] }
  | { type: 'progress'; progress: BatchProgress }
  | { type: 'done'; summary: BatchSummary }
  | { type: 'failed'; error: WireError };

export interface WireError {
  code?: ErrorCode;
  message: string;
}

export interface EngineThreadData {
  spec: BatchJobSpec;
  options: Pick<RunOptions, 'resume' | 'concurrency' | 'batchesPerInstance' | 'attempts'>;
  /** Lower the engine thread's OS scheduling priority (default true). */
  lowPriority: boolean;
}

export function toWire(error: unknown): WireError {
  if (isModelportError(error)) return { code: error.code, message: error.message };
  return { message: error instanceof Error ? error.message : String(error) };
}

export function fromWire(error: WireError): Error {
  return error.code !== undefined ? mpError(error.code, error.message) : new Error(error.message);
}

/**
 * Buffers that may be moved rather than copied: each tensor's own, when its data covers all of
 * it (a view into a larger buffer would take the rest of that buffer with it).
 */
export function transferable(tensors: readonly Tensor[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const { data } of tensors) {
    if (Array.isArray(data)) continue;
    const view = data as ArrayBufferView;
    if (view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) buffers.add(view.buffer);
  }
  return [...buffers];
}

export interface EngineThreadOptions extends Pick<RunOptions, 'resume' | 'concurrency' | 'batchesPerInstance' | 'attempts' | 'onProgress' | 'signal'> {
  /** Lower the engine thread's OS scheduling priority (default true). */
  lowPriority?: boolean;
}

/** BatchEngine.run on a worker thread, with `inferencer` called on this one. */
export function runOnEngineThread(spec: BatchJobSpec, inferencer: BatchInferencer, options: EngineThreadOptions = {}): Promise<BatchSummary> {
  const data: EngineThreadData = {
    spec,
    options: {
      ...(options.resume !== undefined ? { resume: options.resume } : {}),
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.batchesPerInstance !== undefined ? { batchesPerInstance: options.batchesPerInstance } : {}),
      ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
    },
    lowPriority: options.lowPriority ?? true,
  };
  return new Promise<BatchSummary>((resolve, reject) => {
    const worker = new Worker(new URL('./engine-worker.js', import.meta.url), { workerData: data });
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = (): void => worker.postMessage({ type: 'cancel' } satisfies ToEngine);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    const reply = (id: number, work: Promise<unknown>, transfer: (value: unknown) => ArrayBuffer[] = () => []): void => {
      work.then(
        (value) => {
          if (settled) return;
          worker.postMessage({ type: 'reply', id, ok: true, value } satisfies ToEngine, transfer(value));
        },
        (error: unknown) => {
          if (!settled) worker.postMessage({ type: 'reply', id, ok: false, error: toWire(error) } satisfies ToEngine);
        },
      );
    };
    worker.on('message', (message: FromEngine) => {
      switch (message.type) {
        case 'describe':
          reply(message.id, inferencer.describe());
          break;
        case 'infer':
          reply(
            message.id,
            // The data plane's outputs may be views shared with other requests of the same
            // batch, or held for a shadow comparison: the engine thread gets copies.
            inferencer.infer(message.inputs).then((outputs) => outputs.map(copyTensor)),
            (outputs) => transferable(outputs as Tensor[]),
          );
          break;
        case 'progress':
          options.onProgress?.(message.progress);
          break;
        case 'done':
          settle(() => resolve(message.summary));
          break;
        case 'failed':
          settle(() => reject(fromWire(message.error)));
          break;
      }
    });
    worker.on('error', (error) => settle(() => reject(mpError('MP_ERR_INTERNAL', `the batch engine thread failed: ${error.message}`, error))));
    worker.on('exit', (code) => settle(() => reject(mpError('MP_ERR_INTERNAL', `the batch engine thread exited (code ${code}) before the job ended`))));
  });
}

function copyTensor(tensor: Tensor): Tensor {
  const { data } = tensor;
  const copied = Array.isArray(data) ? data.map((bytes) => bytes.slice()) : (data as { slice(): typeof data }).slice();
  return { ...tensor, shape: [...tensor.shape], data: copied as Tensor['data'] };
}
