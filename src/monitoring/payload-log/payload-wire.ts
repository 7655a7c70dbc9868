/**
 * What crosses between the request thread and the logging thread, and the memory they share.
 *
 * Events travel through a ring buffer in shared memory (SharedArrayBuffer). The request thread
 * writes each event into it as it is offered — one block: the numeric fields of the event and its
 * tensors as float64s, then the tensors' raw bytes — so that nothing of the request (its event
 * object, its tensors) is kept alive after the answer: held for a batch's ~20 ms they outlived
 * young-generation collections and were promoted, which cost more in collection than the copy.
 * Every ~20 ms a small message tells the logging thread which blocks make the next batch; it
 * reads them in place and hands the space back once the records are built. Nothing is allocated
 * per batch and no tensor data is structured-cloned: a fresh ArrayBuffer per batch, moved in the
 * transfer list, cost page faults and zeroing on both threads at every batch (a profile put them
 * near 10% of each thread's time). The ring's size is the bound on what is on its way: an event
 * that does not fit is dropped, and counted.
 *
 * The strings that differ from request to request (request and trace ids, error messages) go into
 * the block as UTF-16, so the message of a batch carries no per-event data: structured-cloning three
 * strings per event profiled at ~3 µs per event on the request thread. Model, version, arm,
 * protocol, outcome, tensor names and datatypes repeat endlessly, so each is sent once, in the
 * message, and then referred to by its number in a table both sides keep; the logging thread
 * keeps them already quoted for JSON.
 *
 * Tensors are copied into the ring rather than moved: the outputs cannot be detached at all,
 * since they may be views of a batch's result that other requests' answers still read, and
 * copying a typical tensor of a few KiB is cheaper than transferring a buffer of its own.
 *
 * Shared memory also holds the events in flight, a flag the logging thread raises while every
 * sink's queue is full (so the request thread drops a sample before copying anything), and each
 * sink's counters, so `counts()` reads current figures synchronously, without a round trip.
 */
import { writeBinaryTensorData, type Tensor } from '../../core/index.js';
import { heldBytes, type PayloadEvent } from './payload-event.js';
import { asciiJson, type RawEvent, type RawTensor } from './payload-record.js';
import type { SinkSpec } from './payload-sinks.js';

/** Int32 slots of the control array. */
export const INFLIGHT_EVENTS = 0;
/** Bytes of the ring taken by batches the logging thread has not finished with. */
export const RING_USED = 1;
/** 1 while every sink's queue is full: new samples are dropped at sampling time. */
export const ALL_FULL = 2;
export const CONTROL_SLOTS = 3;

/** BigInt64 slots per sink in the counts array, in this order. */
export const WRITTEN = 0;
export const DROPPED = 1;
export const FAILED = 2;
export const QUEUED = 3;
export const COUNT_SLOTS = 4;

export interface WorkerSettings {
  sinks: Array<{ name: string; spec: SinkSpec }>;
  source: string;
  maxQueued: number;
  maxQueuedBytes: number;
  batchSize: number;
  maxTensorBytes: number;
  control: SharedArrayBuffer;
  counts: SharedArrayBuffer;
  ring: SharedArrayBuffer;
}

export interface BatchMessage {
  type: 'batch';
  count: number;
  /** Names new to the table, numbered from `first`; the table restarts empty when `first` is 0. */
  first: number;
  names: string[];
  /** Where the first block starts in the ring; blocks follow one another. */
  at: number;
  /** Indices of the events that start at the ring's beginning, the end of the ring having been too short for them. */
  wraps: number[];
  /** Ring bytes to hand back when done: the blocks, and the ends of the ring skipped at each wrap. */
  reserved: number;
}

export type ToWorker = BatchMessage | { type: 'close'; timeoutMs: number };
export type FromWorker = { type: 'sink-error'; sink: string; message: string } | { type: 'closed' };

/**
 * float64s per event before its tensors (block length, time, latency, model, version, arm,
 * protocol, outcome, input and output counts, where its strings start, and the UTF-16 byte lengths
 * of request id, trace id and error) and per tensor before its dims (name, datatype, rank, offset,
 * length).
 */
const EVENT_NUMBERS = 14;
const TENSOR_NUMBERS = 5;
/** The table starts over past this size: names come from requests, so they are not strictly bounded. */
const MAX_NAMES = 4096;

function tensorNumbers(tensors: readonly Tensor[]): number {
  let count = 0;
  for (const t of tensors) count += TENSOR_NUMBERS + t.shape.length;
  return count;
}

/** The request thread's side: writes events into the ring and tells which make each batch. */
export class BatchWriter {
  readonly #ring: SharedArrayBuffer;
  readonly #bytes: Buffer;
  /** The whole ring as float64s: blocks start at multiples of 8. */
  readonly #numbers: Float64Array;
  readonly #control: Int32Array;
  readonly #ids = new Map<string, number>();
  #head = 0;
  // The batch being gathered.
  #count = 0;
  #at = 0;
  #reserved = 0;
  #wraps: number[] = [];
  #names: string[] = [];
  #first = 0;

  constructor(ring: SharedArrayBuffer, control: Int32Array) {
    this.#ring = ring;
    this.#bytes = Buffer.from(ring);
    this.#numbers = new Float64Array(ring);
    this.#control = control;
  }

  /** Events in the batch being gathered, and the ring bytes they take. */
  get count(): number {
    return this.#count;
  }

  get reserved(): number {
    return this.#reserved;
  }

  #id(name: string): number {
    let id = this.#ids.get(name);
    if (id === undefined) {
      id = this.#ids.size;
      this.#ids.set(name, id);
      this.#names.push(name);
    }
    return id;
  }

  /** Copies `event` into the ring, into the batch being gathered; false when the ring has no room for it. */
  append(event: PayloadEvent): boolean {
    const count = EVENT_NUMBERS + tensorNumbers(event.inputs) + (event.outputs ? tensorNumbers(event.outputs) : 0);
    const requestId = event.requestId ?? '';
    const traceId = event.traceId ?? '';
    const error = event.error ?? '';
    // UTF-16 code units as they are: a lone surrogate (JSON.parse makes them) survives the trip.
    const requestIdBytes = requestId.length * 2;
    const traceIdBytes = traceId.length * 2;
    const errorBytes = error.length * 2;
    // Whole float64s, so that the next block starts aligned too.
    const length = Math.ceil((count * 8 + heldBytes(event) + requestIdBytes + traceIdBytes + errorBytes) / 8) * 8;
    const capacity = this.#ring.byteLength;
    let at = this.#head;
    let skipped = 0;
    if (at + length > capacity) {
      skipped = capacity - at;
      at = 0;
    }
    if (Atomics.load(this.#control, RING_USED) + skipped + length > capacity) return false;
    Atomics.add(this.#control, RING_USED, skipped + length);
    this.#head = at + length;
    if (this.#count === 0) {
      this.#at = at;
      // Only between batches: every number in a batch refers to one table.
      if (this.#ids.size >= MAX_NAMES) {
        this.#ids.clear();
        this.#first = 0;
      }
    } else if (skipped > 0 || at === 0) this.#wraps.push(this.#count);
    this.#reserved += skipped + length;

    const numbers = this.#numbers;
    const bytes = this.#bytes;
    let n = at / 8;
    let offset = at + count * 8;
    const tensor = (t: Tensor): void => {
      const end = writeBinaryTensorData(t.data, bytes, offset);
      const shape = t.shape;
      numbers[n++] = this.#id(t.name);
      numbers[n++] = this.#id(t.datatype);
      numbers[n++] = shape.length;
      for (let d = 0; d < shape.length; d++) numbers[n++] = Number(shape[d]);
      numbers[n++] = offset;
      numbers[n++] = end - offset;
      offset = end;
    };
    numbers[n++] = length;
    numbers[n++] = event.time.getTime();
    numbers[n++] = event.latencyMs;
    numbers[n++] = this.#id(event.model);
    numbers[n++] = this.#id(event.version);
    numbers[n++] = this.#id(event.arm);
    numbers[n++] = this.#id(event.protocol);
    numbers[n++] = this.#id(event.outcome);
    numbers[n++] = event.inputs.length;
    numbers[n++] = event.outputs ? event.outputs.length : -1;
    const stringsAt = n++;
    numbers[n++] = requestIdBytes;
    numbers[n++] = traceIdBytes;
    numbers[n++] = errorBytes;
    for (const t of event.inputs) tensor(t);
    if (event.outputs) for (const t of event.outputs) tensor(t);
    numbers[stringsAt] = offset;
    if (requestIdBytes > 0) offset += bytes.write(requestId, offset, requestIdBytes, 'utf16le');
    if (traceIdBytes > 0) offset += bytes.write(traceId, offset, traceIdBytes, 'utf16le');
    if (errorBytes > 0) bytes.write(error, offset, errorBytes, 'utf16le');
    this.#count += 1;
    return true;
  }

  /** The message for the batch gathered so far (undefined when empty); the next event starts a new one. */
  take(): BatchMessage | undefined {
    if (this.#count === 0) return undefined;
    const message: BatchMessage = {
      type: 'batch',
      count: this.#count,
      first: this.#first,
      names: this.#names,
      at: this.#at,
      wraps: this.#wraps,
      reserved: this.#reserved,
    };
    this.#first += this.#names.length;
    this.#names = [];
    this.#wraps = [];
    this.#count = 0;
    this.#reserved = 0;
    return message;
  }
}

/** The logging thread's side: the events of each batch, their names already quoted for JSON. */
export class BatchReader {
  readonly #bytes: Buffer;
  readonly #numbers: Float64Array;
  readonly #control: Int32Array;
  readonly #quoted: string[] = [];

  constructor(ring: SharedArrayBuffer, control: Int32Array) {
    this.#bytes = Buffer.from(ring);
    this.#numbers = new Float64Array(ring);
    this.#control = control;
  }

  /** The batch's events; their tensors are ranges of the ring, valid until release(message). */
  read(message: BatchMessage): RawEvent[] {
    if (message.first === 0) this.#quoted.length = 0;
    for (let i = 0; i < message.names.length; i++) this.#quoted[message.first + i] = asciiJson(message.names[i]!);
    const quoted = this.#quoted;
    const bytes = this.#bytes;
    const numbers = this.#numbers;
    const events: RawEvent[] = [];
    let at = message.at;
    let wrap = 0;
    for (let i = 0; i < message.count; i++) {
      if (message.wraps[wrap] === i) {
        at = 0;
        wrap += 1;
      }
      // The block's first float64 is its length.
      let n = at / 8;
      const length = numbers[n++]!;
      const tensors = (count: number): RawTensor[] => {
        const list: RawTensor[] = [];
        for (let t = 0; t < count; t++) {
          const nameJson = quoted[numbers[n++]!]!;
          const datatypeJson = quoted[numbers[n++]!]!;
          const rank = numbers[n++]!;
          const shape: number[] = [];
          for (let d = 0; d < rank; d++) shape.push(numbers[n++]!);
          const start = numbers[n++]!;
          list.push({ nameJson, datatypeJson, shape, bytes, start, end: start + numbers[n++]! });
        }
        return list;
      };
      const timeMs = numbers[n++]!;
      const latencyMs = numbers[n++]!;
      const modelJson = quoted[numbers[n++]!]!;
      const versionJson = quoted[numbers[n++]!]!;
      const armJson = quoted[numbers[n++]!]!;
      const protocolJson = quoted[numbers[n++]!]!;
      const outcomeJson = quoted[numbers[n++]!]!;
      const inputCount = numbers[n++]!;
      const outputCount = numbers[n++]!;
      let stringAt = numbers[n++]!;
      const requestIdEnd = stringAt + numbers[n++]!;
      const traceIdEnd = requestIdEnd + numbers[n++]!;
      const errorEnd = traceIdEnd + numbers[n++]!;
      const requestId = requestIdEnd > stringAt ? bytes.toString('utf16le', stringAt, requestIdEnd) : '';
      stringAt = requestIdEnd;
      const traceId = traceIdEnd > stringAt ? bytes.toString('utf16le', stringAt, traceIdEnd) : '';
      const error = errorEnd > traceIdEnd ? bytes.toString('utf16le', traceIdEnd, errorEnd) : '';
      const inputs = tensors(inputCount);
      const outputs = outputCount >= 0 ? tensors(outputCount) : undefined;
      events.push({
        timeMs,
        latencyMs,
        modelJson,
        versionJson,
        armJson,
        protocolJson,
        outcomeJson,
        requestId,
        traceId,
        error,
        inputs,
        outputs,
      });
      at += length;
    }
    return events;
  }

  /** Hands the batch's space in the ring back to the request thread. */
  release(message: BatchMessage): void {
    Atomics.sub(this.#control, RING_USED, message.reserved);
  }
}
