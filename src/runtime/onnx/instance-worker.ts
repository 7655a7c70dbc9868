/**
 * The body of one instance's worker thread: it owns one onnxruntime session and executes the
 * batches its OnnxInstance posts. onnxruntime-node runs inference synchronously on the calling JS
 * thread, so each instance gets a thread of its own and the main thread stays free for I/O and
 * batching. Failures of a run are reported back and the thread carries on; the thread only ends
 * when told to close (or when it crashes, which the instance notices and repairs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InferenceSession, type Tensor as OrtTensor } from 'onnxruntime-node';
import { isModelportError, type Tensor } from '../../core/index.js';
import { fromOrtTensor, toOrtTensor } from './ort-tensor.js';
import { planTransfer } from './tensor-transfer.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

if (parentPort === null) throw new Error('instance-worker must run as a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;

function post(message: FromWorker, transfer?: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let session: InferenceSession | undefined;
try {
  session = await InferenceSession.create(init.modelPath, init.sessionOptions);
} catch (error) {
  // No listener is registered, so the thread ends by itself once this message is out.
  post({ type: 'load-failed', message: messageOf(error) });
}

if (session !== undefined) {
  const loaded = session;
  // The instance never overlaps runs, but 'close' may arrive while one is finishing.
  let current: Promise<void> = Promise.resolve();

  port.on('message', (message: ToWorker) => {
    if (message.type === 'run') {
      current = execute(loaded, message.id, message.inputs, message.outputNames);
    } else if (message.type === 'close') {
      void current.then(async () => {
        await loaded.release().catch(() => {});
        port.close();
      });
    } else if (message.type === 'crash-for-testing') {
      // Thrown from JS between runs, never inside onnxruntime, like an uncaught bug would be.
      setImmediate(() => {
        throw new Error('worker thread killed for testing');
      });
    }
  });
  post({ type: 'ready' });
}

async function execute(session: InferenceSession, id: number, inputs: Tensor[], outputNames: readonly string[]): Promise<void> {
  let outputs: Tensor[];
  let inferNs: number;
  try {
    const feeds: Record<string, OrtTensor> = {};
    for (const input of inputs) feeds[input.name] = toOrtTensor(input);
    const names = outputNames.length > 0 ? outputNames : session.outputNames;
    // Includes the binding's one setImmediate hop before the native run: microseconds.
    const start = process.hrtime.bigint();
    const results = await session.run(feeds, names);
    inferNs = Number(process.hrtime.bigint() - start);
    outputs = new Array<Tensor>(names.length);
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const result = results[name];
      if (result === undefined) throw new Error(`onnxruntime returned no output '${name}'`);
      outputs[i] = fromOrtTensor(name, result);
    }
  } catch (error) {
    post({
      type: 'run-failed',
      id,
      code: isModelportError(error) ? error.code : 'MP_ERR_RUNTIME_FAILED',
      message: messageOf(error),
    });
    return;
  }
  // onnxruntime allocates every output in a buffer of its own, so this normally copies nothing.
  const plan = planTransfer(outputs);
  try {
    post({ type: 'result', id, outputs: plan.tensors, inferNs }, plan.transfer);
  } catch (error) {
    post({ type: 'run-failed', id, code: 'MP_ERR_RUNTIME_FAILED', message: `could not return the outputs: ${messageOf(error)}` });
  }
}
