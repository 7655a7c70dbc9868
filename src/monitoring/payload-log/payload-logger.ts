/**
 * Payload logging that never slows or blocks inference. The request path only samples and
 * enqueues references (O(1)); records are built after the answer has gone, in batches, and each
 * sink drains its own bounded queue, so a slow or dead sink fills its queue and then drops — counted
 * per sink — without touching inference or the other sinks. Queues are bounded by count and by
 * the bytes they hold.
 */
import type { PayloadSink } from './payload-sinks.js';
import { heldBytes, toCloudEvent, type CloudEvent, type PayloadEvent } from './payload-event.js';

export interface PayloadLoggerOptions {
  /** Sampling rate per model name in [0, 1]; "*" for every other model. */
  rates: ReadonlyMap<string, number>;
  sinks: PayloadSink[];
  /** CloudEvents `source`. */
  source?: string;
  /** Events each sink may hold before dropping (default 2,000). */
  maxQueued?: number;
  /** Tensor bytes each queue may hold (default 16 MiB). */
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
  queued: number;
}

class SinkQueue {
  readonly events: Array<{ event: CloudEvent; bytes: number }> = [];
  bytes = 0;
  written = 0;
  dropped = 0;
  failed = 0;
  busy = false;

  constructor(readonly sink: PayloadSink) {}
}

export class PayloadLogger {
  readonly #options: Required<Omit<PayloadLoggerOptions, 'onSinkError'>> & Pick<PayloadLoggerOptions, 'onSinkError'>;
  readonly #pending: PayloadEvent[] = [];
  #pendingBytes = 0;
  #pendingDropped = 0;
  readonly #queues: SinkQueue[];
  #scheduled = false;
  #closed = false;

  constructor(options: PayloadLoggerOptions) {
    this.#options = { source: '/modelport', maxQueued: 2_000, maxQueuedBytes: 16 * 1024 * 1024, batchSize: 256, maxTensorBytes: 64 * 1024, ...options };
    this.#queues = options.sinks.map((sink) => new SinkQueue(sink));
  }

  /**
   * Whether this request of `model` is to be logged (per-model sampling). A sampled request that
   * no sink has room for is dropped (and counted) here, before anything is copied or built.
   */
  sample(model: string): boolean {
    const rate = this.#options.rates.get(model) ?? this.#options.rates.get('*') ?? 0;
    if (!(rate >= 1 || (rate > 0 && Math.random() < rate))) return false;
    if (this.#closed || this.#pending.length >= this.#options.maxQueued || (this.#queues.length > 0 && this.#queues.every((q) => q.events.length >= this.#options.maxQueued))) {
      this.#pendingDropped += 1;
      return false;
    }
    return true;
  }

  /** Hands an event over; returns at once. Dropped (and counted) when the queue is full. */
  offer(event: PayloadEvent): void {
    if (this.#closed) return;
    const bytes = heldBytes(event);
    if (this.#pending.length >= this.#options.maxQueued || this.#pendingBytes + bytes > this.#options.maxQueuedBytes) {
      this.#pendingDropped += 1;
      return;
    }
    this.#pending.push(event);
    this.#pendingBytes += bytes;
    if (!this.#scheduled) {
      this.#scheduled = true;
      // After the current I/O callbacks, i.e. after the answer to this request has been written.
      setImmediate(() => this.#convert());
    }
  }

  counts(): SinkCounts[] {
    return this.#queues.map((q) => ({
      sink: q.sink.name,
      written: q.written,
      // An event dropped before conversion is lost to every sink.
      dropped: q.dropped + this.#pendingDropped,
      failed: q.failed,
      queued: q.events.length,
    }));
  }

  /** Writes what is queued (for at most `timeoutMs`), then closes the sinks. */
  async close(timeoutMs = 5000): Promise<void> {
    this.#convert();
    this.#closed = true;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.#queues.some((q) => q.busy || q.events.length > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(this.#queues.map((q) => q.sink.close()));
  }

  #convert(): void {
    this.#scheduled = false;
    const events = this.#pending.splice(0);
    this.#pendingBytes = 0;
    for (const event of events) {
      const record = toCloudEvent(event, this.#options.source, this.#options.maxTensorBytes);
      const bytes = heldBytes(event);
      for (const queue of this.#queues) {
        if (queue.events.length >= this.#options.maxQueued || queue.bytes + bytes > this.#options.maxQueuedBytes) {
          queue.dropped += 1;
          continue;
        }
        queue.events.push({ event: record, bytes });
        queue.bytes += bytes;
      }
    }
    for (const queue of this.#queues) if (!queue.busy) void this.#drain(queue);
  }

  async #drain(queue: SinkQueue): Promise<void> {
    queue.busy = true;
    try {
      while (queue.events.length > 0) {
        const batch = queue.events.splice(0, this.#options.batchSize);
        for (const item of batch) queue.bytes -= item.bytes;
        try {
          await queue.sink.write(batch.map((item) => item.event));
          queue.written += batch.length;
        } catch (error) {
          queue.failed += batch.length;
          this.#options.onSinkError?.(queue.sink.name, error as Error);
        }
      }
    } finally {
      queue.busy = false;
    }
  }
}
