/**
 * The payload logger's thread: everything but sampling and the copy of the tensors happens here,
 * off the thread that answers requests — building each record's JSON (base64 of the tensors,
 * sha256 of large ones), the per-sink bounded queues, and the sinks' file writes and webhook
 * POSTs. A record is built once and copied to every sink that has room for it; a sink whose queue
 * is full drops (and counts) without touching the others. Counters and the all-full flag live in
 * memory shared with the request thread (payload-wire.ts), updated after every batch and write.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runOnSpareCpu } from '../../core/index.js';
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

/** Records waiting for one sink write, as JSON lines in a buffer that is reused once written. */
interface Chunk {
  buffer: Buffer;
  used: number;
  count: number;
}

/** Room for a few hundred typical records; a record larger than this gets a chunk of its own size. */
const CHUNK_BYTES = 256 * 1024;
/** Written chunks kept for reuse per sink. */
const SPARE_CHUNKS = 4;

class SinkQueue {
  /** Waiting to be written, oldest first; records are appended to the last. */
  readonly chunks: Chunk[] = [];
  readonly #spare: Buffer[] = [];
  /** Records and bytes waiting: the queue's bounds. */
  records = 0;
  bytes = 0;
  written = 0;
  dropped = 0;
  failed = 0;
  busy = false;

  constructor(
    readonly name: string,
    readonly sink: PayloadSink,
    readonly batchSize: number,
  ) {}

  /** Appends `record` (ASCII) and a line break. */
  push(record: string): void {
    const length = record.length;
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || chunk.count >= this.batchSize || chunk.used + length + 1 > chunk.buffer.length) {
      const size = Math.max(CHUNK_BYTES, length + 1);
      chunk = { buffer: (size === CHUNK_BYTES && this.#spare.pop()) || Buffer.allocUnsafeSlow(size), used: 0, count: 0 };
      this.chunks.push(chunk);
    }
    // latin1 is a plain copy of ASCII, straight from the record's pieces (no flattening first).
    chunk.buffer.write(record, chunk.used, length, 'latin1');
    chunk.buffer[chunk.used + length] = 0x0a;
    chunk.used += length + 1;
    chunk.count += 1;
    this.records += 1;
    this.bytes += length + 1;
  }

  /** The oldest chunk, out of the queue: nothing is appended to it any more. */
  shift(): Chunk | undefined {
    const chunk = this.chunks.shift();
    if (chunk !== undefined) {
      this.records -= chunk.count;
      this.bytes -= chunk.used;
    }
    return chunk;
  }

  /** A written chunk's memory, for the chunks to come. */
  reuse(chunk: Chunk): void {
    if (chunk.buffer.length === CHUNK_BYTES && this.#spare.length < SPARE_CHUNKS) this.#spare.push(chunk.buffer);
  }
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
  return queue.records >= settings.maxQueued || queue.bytes >= settings.maxQueuedBytes;
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
    Atomics.store(counts, base + QUEUED, BigInt(queue.records));
    if (!full(queue)) allFull = false;
  }
  Atomics.store(control, ALL_FULL, allFull ? 1 : 0);
}

async function drain(queue: SinkQueue, queues: readonly SinkQueue[]): Promise<void> {
  queue.busy = true;
  try {
    for (let chunk = queue.shift(); chunk !== undefined; chunk = queue.shift()) {
      publish(queues);
      try {
        await queue.sink.write({ lines: chunk.buffer.subarray(0, chunk.used), count: chunk.count });
        queue.written += chunk.count;
      } catch (error) {
        queue.failed += chunk.count;
        post({ type: 'sink-error', sink: queue.name, message: (error as Error)?.message ?? String(error) });
      }
      queue.reuse(chunk);
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
      // Built once, for the first sink with room, and copied to the others.
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
        queue.push(record);
      }
    }
  } finally {
    // The records are copied out: the ring's space can be written again.
    batches.release(message);
    Atomics.sub(control, INFLIGHT_EVENTS, message.count);
  }
  for (const queue of queues) if (!queue.busy && queue.records > 0) void drain(queue, queues);
  publish(queues);
}

/** Writes what is queued for at most `timeoutMs`, closes the sinks, and says so. */
async function close(queues: readonly SinkQueue[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && queues.some((q) => q.busy || q.records > 0)) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // A sink that cannot close in the time left is abandoned: the request thread ends this thread.
  const left = Math.max(0, deadline - Date.now());
  await Promise.race([Promise.all(queues.map((q) => q.sink.close().catch(() => undefined))), new Promise((resolve) => setTimeout(resolve, left))]);
  publish(queues);
  post({ type: 'closed' });
}

async function main(): Promise<void> {
  // Records are built in bursts; request and inference threads must never wait behind one.
  void runOnSpareCpu();
  const queues = await Promise.all(settings.sinks.map(async ({ name, spec }) => new SinkQueue(name, await createSink(spec), settings.batchSize)));
  publish(queues);
  // Messages sent before the sinks existed wait in the port until this listener is attached.
  port.on('message', (message: ToWorker) => {
    if (message.type === 'batch') accept(message, queues);
    else void close(queues, message.timeoutMs);
  });
}

void main();
