/**
 * Payload logging that never slows or blocks inference. The request thread only samples, copies
 * what it is offered into a ring buffer shared with the logger's own thread (payload-wire.ts)
 * and, every 20 ms (or every 256 events), posts one small message saying which events make the
 * next batch. Everything else — the CloudEvents JSON, base64 and digests, the per-sink bounded
 * queues, file writes and webhook POSTs — runs on that thread (payload-worker.ts), so the request
 * thread pays a sampling decision, a copy and a share of one postMessage per event.
 *
 * A slow or dead sink fills its own queue and then drops, counted per sink, without touching
 * inference or the other sinks. Once every sink is full the logging thread raises a flag in
 * shared memory and `sample()` refuses (and counts) new samples before anything is copied, so a
 * blocked sink costs the request thread almost nothing. Counters live in shared memory as well:
 * `counts()` is synchronous and current.
 */
import { Worker } from 'node:worker_threads';
import { workerExecArgv, type Tensor } from '../../core/index.js';
import { InputCopies } from './input-copies.js';
import type { PayloadEvent } from './payload-event.js';
import type { SinkDescriptor } from './payload-sinks.js';
import {
  ALL_FULL,
  CONTROL_SLOTS,
  COUNT_SLOTS,
  DROPPED,
  FAILED,
  INFLIGHT_EVENTS,
  QUEUED,
  WRITTEN,
  BatchWriter,
  type FromWorker,
  type ToWorker,
  type WorkerSettings,
} from './payload-wire.js';

export interface PayloadLoggerOptions {
  /** Sampling rate per model name in [0, 1]; "*" for every other model. */
  rates: ReadonlyMap<string, number>;
  /** RotatingFileSink, WebhookSink, or moduleSink(...) for a sink of another kind. */
  sinks: readonly SinkDescriptor[];
  /** CloudEvents `source`. */
  source?: string;
  /**
   * Events each sink may hold before dropping (default 2,000); the same bound applies to the
   * events on their way to the logging thread.
   */
  maxQueued?: number;
  /**
   * Bytes each queue may hold (default 16 MiB): record JSON in each sink's queue, and the ring in
   * shared memory through which events travel to the logging thread (allocated at this size).
   */
  maxQueuedBytes?: number;
  /** Events per sink write (default 256). */
  batchSize?: number;
  /** Tensors above this many bytes are logged as size + sha256 (default 64 KiB). */
  maxTensorBytes?: number;
  onSinkError?: (sink: string, error: Error) => void;
}

export interface SinkCounts {
  sink: string;
  written: number;
  dropped: number;
  failed: number;
  /** Waiting: in the sink's queue, or on the way to the logging thread. */
  queued: number;
}

/** A batch leaves at once when this many events are waiting… */
const FLUSH_EVENTS = 256;
/** …or this many bytes (at most a quarter of the ring)… */
const FLUSH_BYTES = 1024 * 1024;
/**
 * …and otherwise this long after the first of them. Each hand-off wakes the logging thread (and
 * its write wakes it again): context switches measured ~15% of its time at one hand-off per 5 ms.
 */
const FLUSH_MS = 20;

const WORKER_URL = new URL('./payload-worker.js', import.meta.url);

export class PayloadLogger {
  readonly #rates: ReadonlyMap<string, number>;
  readonly #maxQueued: number;
  readonly #flushBytes: number;
  readonly #names: string[];
  readonly #onSinkError: PayloadLoggerOptions['onSinkError'];
  readonly #worker: Worker | undefined;
  readonly #control: Int32Array;
  readonly #counts: BigInt64Array;
  readonly #batches: BatchWriter;
  readonly #copies = new InputCopies();
  /** Events dropped on this thread: lost to every sink. */
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #closed = false;
  #failed = false;
  #closing: Promise<void> | undefined;
  #onClosed: (() => void) | undefined;

  constructor(options: PayloadLoggerOptions) {
    this.#rates = options.rates;
    this.#maxQueued = options.maxQueued ?? 2_000;
    const maxQueuedBytes = options.maxQueuedBytes ?? 16 * 1024 * 1024;
    this.#names = options.sinks.map((s) => s.name);
    this.#onSinkError = options.onSinkError;
    const control = new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    const counts = new SharedArrayBuffer(Math.max(1, options.sinks.length) * COUNT_SLOTS * BigInt64Array.BYTES_PER_ELEMENT);
    this.#control = new Int32Array(control);
    this.#counts = new BigInt64Array(counts);
    // With no sink there is nothing to run: sampling still answers, offers are discarded.
    const ringBytes = options.sinks.length === 0 ? 8 : Math.ceil(maxQueuedBytes / 8) * 8;
    this.#flushBytes = Math.min(FLUSH_BYTES, ringBytes / 4);
    const ring = new SharedArrayBuffer(ringBytes);
    this.#batches = new BatchWriter(ring, this.#control);
    if (options.sinks.length === 0) return;
    const settings: WorkerSettings = {
      sinks: options.sinks.map((s) => ({ name: s.name, spec: s.spec })),
      source: options.source ?? '/modelport',
      maxQueued: this.#maxQueued,
      maxQueuedBytes,
      batchSize: options.batchSize ?? 256,
      maxTensorBytes: options.maxTensorBytes ?? 64 * 1024,
      control,
      counts,
      ring,
    };
    // The thread inherits node's flags (so --cpu-prof profiles it too), see workerExecArgv().
    const worker = new Worker(WORKER_URL, { workerData: settings, ...workerExecArgv() });
    this.#worker = worker;
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'closed') this.#onClosed?.();
      else this.#onSinkError?.(message.sink, new Error(message.message));
    });
    worker.on('error', (error) => this.#lost(error));
    worker.on('exit', (code) => {
      if (!this.#closing) this.#lost(new Error(`payload logging thread exited with code ${code}`));
    });
    // Logging never holds the process open; close() holds it while it flushes. After the
    // listeners: adding a 'message' listener refs the thread's port again.
    worker.unref();
  }

  /**
   * Whether this request of `model` is to be logged (per-model sampling). A sampled request that
   * no sink has room for is dropped (and counted) here, before anything is copied.
   */
  sample(model: string): boolean {
    const rate = this.#rates.get(model) ?? this.#rates.get('*') ?? 0;
    if (!(rate >= 1 || (rate > 0 && Math.random() < rate))) return false;
    if (this.#worker === undefined) return !this.#closed;
    if (this.#closed || this.#failed || Atomics.load(this.#control, ALL_FULL) === 1 || this.#batches.count + Atomics.load(this.#control, INFLIGHT_EVENTS) >= this.#maxQueued) {
      this.#dropped += 1;
      return false;
    }
    return true;
  }

  /**
   * Copies of a sampled request's inputs, for its event: taken before inference, since the
   * request's buffers may move to a worker thread. Their memory is reused once offer() has them.
   */
  copyInputs(inputs: readonly Tensor[]): Tensor[] {
    return this.#copies.copy(inputs);
  }

  /**
   * Hands an event over: copies it (its tensors' bytes) and returns, keeping no reference to it.
   * Inputs that copyInputs() made are taken back for reuse (the caller must not read them after);
   * any other tensor is left as it was. Dropped (and counted) when the hand-off is full.
   */
  offer(event: PayloadEvent): void {
    if (this.#worker === undefined) return;
    const accepted = this.#accept(event);
    this.#copies.release(event.inputs);
    if (!accepted) this.#dropped += 1;
  }

  #accept(event: PayloadEvent): boolean {
    if (this.#closed || this.#failed) return false;
    const batches = this.#batches;
    // Copied now, so that nothing of the request outlives its answer; refused when the ring is full.
    if (batches.count + Atomics.load(this.#control, INFLIGHT_EVENTS) >= this.#maxQueued || !batches.append(event)) return false;
    if (batches.count >= FLUSH_EVENTS || batches.reserved >= this.#flushBytes) {
      // After the current I/O callbacks, i.e. after this request's answer has been written.
      this.#immediate ??= setImmediate(this.#flush);
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#flush, FLUSH_MS);
      this.#timer.unref();
    }
    return true;
  }

  counts(): SinkCounts[] {
    const counts = this.#counts;
    const waiting = this.#batches.count + Atomics.load(this.#control, INFLIGHT_EVENTS);
    return this.#names.map((sink, i) => {
      const base = i * COUNT_SLOTS;
      return {
        sink,
        written: Number(Atomics.load(counts, base + WRITTEN)),
        dropped: Number(Atomics.load(counts, base + DROPPED)) + this.#dropped,
        failed: Number(Atomics.load(counts, base + FAILED)),
        queued: Number(Atomics.load(counts, base + QUEUED)) + waiting,
      };
    });
  }

  /** Writes what is queued (for at most `timeoutMs`), closes the sinks and ends the logging thread. */
  close(timeoutMs = 5000): Promise<void> {
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#flush();
    this.#closed = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    if (!this.#failed) {
      // Held open until the logging thread has written what it has, or the deadline passed.
      worker.ref();
      let timer: NodeJS.Timeout | undefined;
      const closed = new Promise<void>((resolve) => {
        this.#onClosed = resolve;
        // The thread keeps its own deadline; this one only covers a thread that cannot answer.
        timer = setTimeout(resolve, timeoutMs + 1000);
      });
      const message: ToWorker = { type: 'close', timeoutMs };
      worker.postMessage(message);
      await closed;
      clearTimeout(timer);
    }
    await worker.terminate();
  }

  readonly #flush = (): void => {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.#worker === undefined || this.#failed) return;
    const message = this.#batches.take();
    if (message === undefined) return;
    // Counted before it leaves, so the logging thread's decrement never precedes it.
    Atomics.add(this.#control, INFLIGHT_EVENTS, message.count);
    this.#worker.postMessage(message satisfies ToWorker);
  };

  /** The logging thread is gone: what was on its way there is lost, and so is everything sampled from now on. */
  #lost(error: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#dropped += this.#batches.count + Atomics.load(this.#control, INFLIGHT_EVENTS);
    this.#batches.take();
    Atomics.store(this.#control, INFLIGHT_EVENTS, 0);
    for (const sink of this.#names) this.#onSinkError?.(sink, error);
    this.#onClosed?.();
  }
}
