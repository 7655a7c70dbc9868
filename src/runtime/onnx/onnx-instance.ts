/**
 * One loaded copy of an ONNX model: a worker thread holding its own onnxruntime session, fed one
 * batch at a time with transferred buffers. The instance also keeps itself healthy: when its thread
 * dies (a native crash, an uncaught error, a kill), the run in flight fails with
 * MP_ERR_RUNTIME_CRASHED, a replacement thread reloads the session, and the next run waits for it.
 */
import { Worker } from 'node:worker_threads';
import { mpError, workerExecArgv, type ErrorCode, type Logger, type ModelportError, type Tensor } from '../../core/index.js';
import type { RunResult, RuntimeInstance } from '../runtime.js';
import { planTransfer } from './tensor-transfer.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

/** tsc emits instance-worker.js beside this file (dist/src/runtime/onnx/). */
const WORKER_URL = new URL('./instance-worker.js', import.meta.url);

/**
 * How long close() lets an idle worker release its session before terminating it outright.
 * A worker is never terminated while onnxruntime may be executing in it: with onnxruntime-node
 * 1.30, worker.terminate() during a native run throws a C++ exception that aborts the whole
 * process. So close() waits for a run to finish, and the test hook crashes the thread from JS.
 */
const CLOSE_GRACE_MS = 5_000;

interface Thread {
  readonly worker: Worker;
  /** The session is created and the thread accepts runs. */
  loaded: boolean;
  /** The thread ended or is being shut down; its further events mean nothing. */
  gone: boolean;
  /** Killed through terminateThreadForTesting: its messages are ignored so the crash path is taken. */
  killed: boolean;
  /** A batch was posted and its reply has not arrived (even if its run was already rejected). */
  running: boolean;
  settleLoad(error?: ModelportError): void;
}

interface PendingRun {
  id: number;
  resolve(result: RunResult): void;
  reject(error: Error): void;
}

export class OnnxInstance implements RuntimeInstance {
  readonly name: string;
  readonly #init: WorkerInit;
  readonly #logger: Logger;
  #thread!: Thread;
  /** Settles when the current thread has loaded its session (or failed to). */
  #ready!: Promise<void>;
  /** Lets run() skip awaiting #ready on the hot path. */
  #isReady = false;
  #busy = false;
  #pending: PendingRun | undefined;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  private constructor(init: WorkerInit, logger: Logger) {
    this.name = init.name;
    this.#init = init;
    this.#logger = logger;
    this.#ready = this.#spawn();
  }

  /**
   * Starts the worker and resolves once its session exists. Rejects with MP_ERR_MODEL_LOAD (carrying
   * onnxruntime's message) when the session cannot be created; the thread is gone by then.
   */
  static async start(init: WorkerInit, logger: Logger): Promise<OnnxInstance> {
    const instance = new OnnxInstance(init, logger);
    await instance.#ready;
    return instance;
  }

  /** Id of the worker thread currently serving this instance (changes when a crashed one is replaced). */
  get threadId(): number {
    return this.#thread.worker.threadId;
  }

  /**
   * Executes one batch on the worker. Input buffers that the tensors cover entirely are transferred
   * (detached here); views into larger buffers are copied first. Rejects with
   * MP_ERR_RUNTIME_FAILED when onnxruntime refuses the batch, MP_ERR_RUNTIME_CRASHED when the thread
   * dies meanwhile, and with the load error when a replacement thread could not reload the model.
   */
  async run(inputs: Tensor[], outputNames: readonly string[]): Promise<RunResult> {
    if (this.#closing !== undefined) throw this.#stopping('is closed');
    if (this.#busy) {
      throw mpError('MP_ERR_INTERNAL', `instance '${this.name}' already has a run in flight; runs on one instance must not overlap`);
    }
    this.#busy = true;
    try {
      if (!this.#isReady) await this.#ready;
      if (this.#closing !== undefined) throw this.#stopping('is closed');
      return await this.#send(inputs, outputNames);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Releases the session and ends the thread. Callers drain the instance first (the scheduler stops
   * handing it batches and waits for the run in flight); a run still pending is rejected with
   * MP_ERR_SERVER_STOPPING rather than left hanging.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /**
   * FOR TESTS ONLY: kills the worker thread, simulating a crash. The thread is made to throw an
   * uncaught error (worker.terminate() could abort the process if onnxruntime were mid-run), and
   * anything it still sends is ignored, so a run in flight deterministically rejects with
   * MP_ERR_RUNTIME_CRASHED and a replacement thread is started. Resolves once the old thread exited.
   */
  async terminateThreadForTesting(): Promise<void> {
    const thread = this.#thread;
    if (thread.gone) return;
    thread.killed = true;
    const exited = new Promise<void>((resolve) => thread.worker.once('exit', () => resolve()));
    thread.worker.postMessage({ type: 'crash-for-testing' } satisfies ToWorker);
    await exited;
  }

  #send(inputs: Tensor[], outputNames: readonly string[]): Promise<RunResult> {
    const plan = planTransfer(inputs);
    const id = this.#nextId++;
    const thread = this.#thread;
    return new Promise<RunResult>((resolve, reject) => {
      this.#pending = { id, resolve, reject };
      const message: ToWorker = { type: 'run', id, inputs: plan.tensors, outputNames };
      try {
        thread.worker.postMessage(message, plan.transfer);
        thread.running = true;
      } catch (error) {
        this.#pending = undefined;
        reject(this.#error('MP_ERR_RUNTIME_FAILED', `could not send the batch to the worker thread: ${messageOf(error)}`, error));
      }
    });
  }

  #spawn(): Promise<void> {
    const worker = new Worker(WORKER_URL, { workerData: this.#init, name: `modelport ${this.name}`, ...workerExecArgv() });
    let settleLoad!: (error?: ModelportError) => void;
    const loaded = new Promise<void>((resolve, reject) => {
      settleLoad = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Surfaced through start() or the next run(); never an unhandled rejection.
    loaded.catch(() => {});
    const thread: Thread = { worker, loaded: false, gone: false, killed: false, running: false, settleLoad };
    this.#thread = thread;
    this.#isReady = false;
    worker.on('message', (message: FromWorker) => this.#onMessage(thread, message));
    worker.on('messageerror', (error) => this.#onMessageError(thread, error));
    worker.on('error', (error) => this.#onThreadEnd(thread, `failed with an uncaught error (${error.message})`, error));
    worker.on('exit', (code) => this.#onThreadEnd(thread, `exited with code ${code}`));
    return loaded;
  }

  #onMessage(thread: Thread, message: FromWorker): void {
    if (message.type === 'result' || message.type === 'run-failed') thread.running = false;
    if (thread.gone || thread.killed) return;
    switch (message.type) {
      case 'ready':
        thread.loaded = true;
        if (thread === this.#thread) this.#isReady = true;
        this.#logger.debug({ threadId: thread.worker.threadId }, 'instance session loaded');
        thread.settleLoad();
        return;
      case 'load-failed':
        thread.gone = true;
        // The worker registers no listener after a failed load, so its thread ends by itself.
        thread.settleLoad(
          this.#error('MP_ERR_MODEL_LOAD', `onnxruntime could not load '${this.#init.modelPath}': ${message.message}`),
        );
        return;
      case 'result': {
        const pending = this.#takePending(message.id);
        pending?.resolve({ outputs: message.outputs, inferNs: message.inferNs });
        return;
      }
      case 'run-failed': {
        const pending = this.#takePending(message.id);
        pending?.reject(this.#error(message.code, message.message));
        return;
      }
    }
  }

  /** A reply that cannot be deserialised loses its run id; only the pending run can be its owner. */
  #onMessageError(thread: Thread, error: Error): void {
    thread.running = false;
    if (thread.gone || thread.killed) return;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(this.#error('MP_ERR_RUNTIME_FAILED', `the worker's reply could not be read: ${error.message}`, error));
  }

  #onThreadEnd(thread: Thread, how: string, cause?: Error): void {
    if (thread.gone) return;
    thread.gone = true;
    if (!thread.loaded) {
      // Not retried: a model that kills its thread while loading would do so again.
      thread.settleLoad(this.#error('MP_ERR_MODEL_LOAD', `worker thread ${how} while loading '${this.#init.modelPath}'`, cause));
      return;
    }
    this.#logger.error({ threadId: thread.worker.threadId, err: cause }, `instance worker thread ${how}; replacing it`);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(this.#error('MP_ERR_RUNTIME_CRASHED', `worker thread ${how} during the run; a replacement thread is reloading the model`, cause));
    if (this.#closing === undefined) this.#replace();
  }

  #replace(): void {
    const ready = this.#spawn();
    this.#ready = ready;
    ready.then(
      () => this.#logger.info({ threadId: this.threadId }, 'replacement worker thread ready'),
      (error: unknown) => this.#logger.error({ err: error }, 'replacement worker thread could not load the model'),
    );
  }

  #takePending(id: number): PendingRun | undefined {
    const pending = this.#pending;
    if (pending === undefined || pending.id !== id) return undefined;
    this.#pending = undefined;
    return pending;
  }

  async #shutdown(): Promise<void> {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(this.#stopping('was closed while a run was in flight'));
    const thread = this.#thread;
    if (thread.gone) return;
    thread.gone = true;
    const worker = thread.worker;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Releasing the session inside the thread frees native memory deterministically. A worker
    // still loading reads 'close' once its session exists (or ends by itself if the load fails).
    worker.postMessage({ type: 'close' } satisfies ToWorker);
    if (!thread.loaded) thread.settleLoad(this.#stopping('was closed while loading'));
    // Terminating is the fallback for an idle thread that does not answer, never for a busy one.
    let timer: NodeJS.Timeout | undefined;
    const fallback = (): void => {
      timer = thread.loaded && !thread.running ? undefined : setTimeout(fallback, CLOSE_GRACE_MS);
      if (timer === undefined) void worker.terminate();
    };
    timer = setTimeout(fallback, CLOSE_GRACE_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  #stopping(what: string): ModelportError {
    return mpError('MP_ERR_SERVER_STOPPING', `instance '${this.name}' ${what}`);
  }

  #error(code: ErrorCode, message: string, cause?: unknown): ModelportError {
    return mpError(code, `instance '${this.name}': ${message}`, cause);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
