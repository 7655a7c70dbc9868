/**
 * The messages between an OnnxInstance and its worker thread. Tensors travel as plain
 * {name, datatype, shape, data} objects whose buffers are transferred, never cloned; errors travel
 * as a catalogue code plus message because Error objects lose their class across threads.
 */
import type { ErrorCode, Tensor } from '../../core/index.js';
import type { SessionOptions } from './session-options.js';

/** What the worker needs to create its session (passed as workerData). */
export interface WorkerInit {
  modelPath: string;
  name: string;
  sessionOptions: SessionOptions;
}

export type ToWorker =
  /** An empty `outputNames` asks for every model output, in the model's order. */
  | { type: 'run'; id: number; inputs: Tensor[]; outputNames: readonly string[] }
  /** Release the session and let the thread end on its own. */
  | { type: 'close' }
  /** Throw an uncaught error, as a crash would (OnnxInstance.terminateThreadForTesting). */
  | { type: 'crash-for-testing' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'load-failed'; message: string }
  | { type: 'result'; id: number; outputs: Tensor[]; inferNs: number }
  | { type: 'run-failed'; id: number; code: ErrorCode; message: string };
