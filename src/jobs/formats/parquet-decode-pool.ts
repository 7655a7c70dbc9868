/**
 * Helper threads that decode a share of a Parquet window's columns, so a window is decoded on
 * every core at once. While a window is being decoded no batch of it can be formed, so the model
 * instances have nothing to run; on one thread that stall was a row group's whole decode time
 * (about a second per 100k rows of 256 FLOAT columns on two cores), once per row group. With one
 * helper per other core it shrinks accordingly, and memory stays one window: the helpers keep
 * nothing and move their results over. Threads started by a low-priority thread (a server job's
 * engine) inherit its priority.
 */
import { Worker } from 'node:worker_threads';
import type { DecodedArray } from 'hyparquet';
import type { DecodeReply, DecodeRequest } from './parquet-decode-worker.js';

export class ParquetDecodePool {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, { helper: number; resolve: (columns: DecodedArray[]) => void; reject: (error: Error) => void }>();
  /** Requests each helper is working on: a helper with none must not keep the process alive. */
  readonly #busy: number[] = [];
  #nextId = 0;

  constructor(path: string, helpers: number) {
    for (let i = 0; i < helpers; i++) {
      const worker = new Worker(new URL('./parquet-decode-worker.js', import.meta.url), { workerData: { path } });
      worker.on('message', (reply: DecodeReply) => {
        const pending = this.#waiting.get(reply.id);
        if (pending === undefined) return;
        this.#waiting.delete(reply.id);
        this.#done(pending.helper);
        if (reply.ok) pending.resolve(reply.columns);
        else pending.reject(new Error(reply.message));
      });
      worker.on('error', (error) => this.#failAll(error));
      worker.unref();
      this.#workers.push(worker);
      this.#busy.push(0);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Helper `helper` decodes `columns` over rows [rowStart, rowEnd). */
  decode(helper: number, columns: string[], rowStart: number, rowEnd: number): Promise<DecodedArray[]> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { helper, resolve, reject });
      if (this.#busy[helper]!++ === 0) this.#workers[helper]!.ref();
      this.#workers[helper]!.postMessage({ id, columns, rowStart, rowEnd } satisfies DecodeRequest);
    });
  }

  async close(): Promise<void> {
    const workers = this.#workers.splice(0);
    await Promise.all(workers.map((worker) => worker.terminate()));
    this.#failAll(new Error('the Parquet decoding helpers were closed'));
  }

  #done(helper: number): void {
    if (--this.#busy[helper]! === 0) this.#workers[helper]?.unref();
  }

  #failAll(error: Error): void {
    for (const pending of this.#waiting.values()) {
      this.#done(pending.helper);
      pending.reject(error);
    }
    this.#waiting.clear();
  }
}
