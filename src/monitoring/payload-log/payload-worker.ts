/**
 * The payload logger's thread: everything but sampling and the copy of the tensors happens here,
 * off the thread that answers requests — building each record's JSON (base64 of the tensors,
 * sha256 of large ones), the per-sink bounded queues, and the sinks' file writes and webhook
 * POSTs. A record is built once and shared by every sink that has room for it; a sink whose queue
 * is full drops (and counts) without touching the others. Counters and the all-full flag live in
 * memory shared with the request thread (payload-wire.ts), updated after every batch and write.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RecordWriter, type RawEvent } from './payload-record.js';
import { createSink, type PayloadSink } from './payload-sinks.js';
import {
  ALL_FULL,
  COUNT_SLOTS,
  DROPPED,
  FAILED,
  INFLIGHT_EVENTS,
  QUEUED,
  WRITTEN,
  BatchReader,
  type BatchMessage,
  type FromWorker,
  type ToWorker,
  type WorkerSettings,
} from './payload-wire.js';

class SinkQueue {
  readonly records: string[] = [];
  /** Characters of JSON held: the queue's memory bound. */
  bytes = 0;
  written = 0;
  dropped = 0;
  failed = 0;
  busy = false;

  constructor(
    readonly name: string,
    readonly sink: PayloadSink,
  ) {}
}

const settings = workerData as WorkerSettings;
const port = parentPort!;
const control = new Int32Array(settings.control);
const counts = new BigInt64Array(settings.counts);
const records = new RecordWriter(settings.source, settings.maxTensorBytes);
const batches = new BatchReader(settings.ring, control);

function post(message: FromWorker): void {
  port.postMessage(message);
}

function full(queue: SinkQueue): boolean {
  return queue.records.length >= settings.maxQueued || queue.bytes >= settings.maxQueuedBytes;
}

/** Counters and the all-full flag into shared memory, where the request thread reads them. */
function publish(queues: readonly SinkQueue[]): void {
  let allFull = queues.length > 0;
  for (let i = 0; i < queues.length; i++) {
    const queue = queues[i]!;
    const base = i * COUNT_SLOTS;
    Atomics.store(counts, base + WRITTEN, BigInt(queue.written));
    Atomics.store(counts, base + DROPPED, BigInt(queue.dropped));
    Atomics.store(counts, base + FAILED, BigInt(queue.failed));
    Atomics.store(counts, base + QUEUED, BigInt(queue.records.length));
    if (!full(queue)) allFull = false;
  }
  Atomics.store(control, ALL_FULL, allFull ? 1 : 0);
}

async function drain(queue: SinkQueue, queues: readonly SinkQueue[]): Promise<void> {
  queue.busy = true;
  try {
    while (queue.records.length > 0) {
      const batch = queue.records.splice(0, settings.batchSize);
      for (const record of batch) queue.bytes -= record.length;
      publish(queues);
      try {
        await queue.sink.write(batch);
        queue.written += batch.length;
      } catch (error) {
        queue.failed += batch.length;
        post({ type: 'sink-error', sink: queue.name, message: (error as Error)?.message ?? String(error) });
      }
      publish(queues);
    }
  } finally {
    queue.busy = false;
  }
}

/** The record's JSON, or null (reported) when it cannot be built. */
function build(event: RawEvent, sink: string): string | null {
  try {
    return records.write(event);
  } catch (error) {
    post({ type: 'sink-error', sink, message: `payload record not built: ${(error as Error)?.message ?? String(error)}` });
    return null;
  }
}

function accept(message: BatchMessage, queues: readonly SinkQueue[]): void {
  try {
    for (const event of batches.read(message)) {
      // Built once, for the first sink with room, and shared by the others.
      let record: string | null | undefined;
      for (const queue of queues) {
        if (full(queue)) {
          queue.dropped += 1;
          continue;
        }
        if (record === undefined) record = build(event, queue.name);
        if (record === null) {
          queue.failed += 1;
          continue;
        }
        queue.records.push(record);
        queue.bytes += record.length;
      }
    }
  } finally {
    // The records are strings of their own: the ring's space can be written again.
    batches.release(message);
    Atomics.sub(control, INFLIGHT_EVENTS, message.count);
  }
  for (const queue of queues) if (!queue.busy && queue.records.length > 0) void drain(queue, queues);
  publish(queues);
}

/** Writes what is queued for at most `timeoutMs`, closes the sinks, and says so. */
async function close(queues: readonly SinkQueue[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && queues.some((q) => q.busy || q.records.length > 0)) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // A sink that cannot close in the time left is abandoned: the request thread ends this thread.
  const left = Math.max(0, deadline - Date.now());
  await Promise.race([Promise.all(queues.map((q) => q.sink.close().catch(() => undefined))), new Promise((resolve) => setTimeout(resolve, left))]);
  publish(queues);
  post({ type: 'closed' });
}

async function main(): Promise<void> {
  const queues = await Promise.all(settings.sinks.map(async ({ name, spec }) => new SinkQueue(name, await createSink(spec))));
  publish(queues);
  // Messages sent before the sinks existed wait in the port until this listener is attached.
  port.on('message', (message: ToWorker) => {
    if (message.type === 'batch') accept(message, queues);
    else void close(queues, message.timeoutMs);
  });
}

void main();
