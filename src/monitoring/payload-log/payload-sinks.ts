/**
 * Where logged payloads go: rotating JSONL files, and an HTTP webhook that receives batches
 * (CloudEvents batch mode) and is retried with exponential back-off. A sink's write resolves when
 * the batch is accepted and rejects when it is given up on; the payload logger counts both.
 *
 * Sinks run on the payload logger's own thread. What the application constructs is therefore
 * also a description (`spec`, plain data) from which that thread builds its own instance; a sink
 * of another kind names the module and export that thread imports it from.
 */
import { close as closeFd, mkdirSync, open, write as writeFd } from 'node:fs';
import { join } from 'node:path';

/** How the logging thread builds a sink: plain data, since it crosses to another thread. */
export type SinkSpec =
  | { kind: 'file'; dir: string; maxFileBytes: number }
  | { kind: 'webhook'; options: WebhookOptions }
  /** `new (await import(url))[exportName](options)`, which must give a PayloadSink. */
  | { kind: 'module'; url: string; exportName: string; options?: unknown };

/** What the payload logger is given: a name for its counters, and how to build the sink. */
export interface SinkDescriptor {
  readonly name: string;
  readonly spec: SinkSpec;
}

export interface PayloadSink extends SinkDescriptor {
  /** `records` are CloudEvents as JSON texts, one per event, in ASCII (other characters \u-escaped). */
  write(records: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** A sink the logging thread imports: `exportName` of module `url` (a file: URL), constructed with `options`. */
export function moduleSink(name: string, url: string | URL, exportName: string, options?: unknown): SinkDescriptor {
  return { name, spec: { kind: 'module', url: String(url), exportName, options } };
}

/** Builds the sink `spec` describes; on the logging thread. */
export async function createSink(spec: SinkSpec): Promise<PayloadSink> {
  switch (spec.kind) {
    case 'file':
      return new RotatingFileSink(spec.dir, spec.maxFileBytes);
    case 'webhook':
      return new WebhookSink(spec.options);
    case 'module': {
      const module = (await import(spec.url)) as Record<string, new (options: unknown) => PayloadSink>;
      const Sink = module[spec.exportName];
      if (typeof Sink !== 'function') throw new Error(`payload sink module ${spec.url} has no export ${spec.exportName}`);
      return new Sink(spec.options);
    }
  }
}

/**
 * JSON lines, one event per line, in files of at most `maxFileBytes` under `dir`. Each batch is
 * copied into one buffer the sink keeps and reuses — records are ASCII, so as latin1, a plain
 * copy — and written with one call. A fresh string or Buffer per batch (a joined string, or a
 * write stream's Buffer of it) is large enough to be allocated outside the young generation, and
 * cost page faults and zeroing at every batch.
 */
export class RotatingFileSink implements PayloadSink {
  readonly name = 'file';
  readonly spec: SinkSpec;
  readonly #dir: string;
  readonly #maxFileBytes: number;
  #fd: number | undefined;
  #written = 0;
  #files = 0;
  #buffer = Buffer.alloc(0);

  constructor(dir: string, maxFileBytes = 64 * 1024 * 1024) {
    this.#dir = dir;
    this.#maxFileBytes = maxFileBytes;
    this.spec = { kind: 'file', dir, maxFileBytes };
    // Here as well as on the logging thread: a directory that cannot be made fails at start-up.
    mkdirSync(dir, { recursive: true });
  }

  /** Writes are one at a time (the payload logger waits for each): the buffer is free again when one resolves. */
  async write(records: readonly string[]): Promise<void> {
    let bytes = records.length;
    for (const record of records) bytes += record.length;
    if (this.#fd === undefined || (this.#written > 0 && this.#written + bytes > this.#maxFileBytes)) await this.#rotate();
    const fd = this.#fd!;
    if (this.#buffer.length < bytes) this.#buffer = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * this.#buffer.length, 64 * 1024));
    const buffer = this.#buffer;
    let at = 0;
    for (const record of records) {
      at += buffer.write(record, at, 'latin1');
      buffer[at++] = 0x0a;
    }
    this.#written += at;
    // A short write (a full disk, say) goes on with the rest, until it is all out or fails.
    for (let done = 0; done < at; ) done += await writeBytes(fd, buffer.subarray(done, at));
  }

  async #rotate(): Promise<void> {
    await this.close();
    this.#files += 1;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    this.#fd = await new Promise<number>((resolve, reject) =>
      open(join(this.#dir, `payloads-${stamp}-${this.#files}.jsonl`), 'wx', (error, fd) => (error ? reject(error) : resolve(fd))),
    );
    this.#written = 0;
  }

  close(): Promise<void> {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return Promise.resolve();
    return new Promise((resolve) => closeFd(fd, () => resolve()));
  }
}

function writeBytes(fd: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve, reject) => writeFd(fd, bytes, 0, bytes.length, null, (error, written) => (error ? reject(error) : resolve(written))));
}

export interface WebhookOptions {
  url: string;
  /** Attempts per batch, the first included. */
  attempts?: number;
  /** Wait before the second attempt; doubles for each one after. */
  backoffMs?: number;
  /** Per attempt. */
  timeoutMs?: number;
}

/** POSTs each batch as a JSON array (`application/cloudevents-batch+json`); a 2xx accepts it. */
export class WebhookSink implements PayloadSink {
  readonly name = 'webhook';
  readonly spec: SinkSpec;
  readonly #options: Required<WebhookOptions>;
  #closed = false;

  constructor(options: WebhookOptions) {
    this.#options = { attempts: 4, backoffMs: 250, timeoutMs: 5000, ...options };
    this.spec = { kind: 'webhook', options: { ...options } };
  }

  async write(records: readonly string[]): Promise<void> {
    // ASCII records: latin1 is a plain copy, where fetch would measure and encode a string as UTF-8.
    const body = Buffer.from(`[${records.join(',')}]`, 'latin1');
    let lastError = '';
    for (let attempt = 0; attempt < this.#options.attempts && !this.#closed; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, this.#options.backoffMs * 2 ** (attempt - 1)));
      try {
        const response = await fetch(this.#options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents-batch+json' },
          body,
          signal: AbortSignal.timeout(this.#options.timeoutMs),
        });
        await response.arrayBuffer();
        if (response.ok) return;
        lastError = `HTTP ${response.status}`;
        // A 4xx other than 408/429 will not get better by retrying.
        if (response.status < 500 && response.status !== 408 && response.status !== 429) break;
      } catch (error) {
        lastError = (error as Error).message;
      }
    }
    throw new Error(`payload webhook ${this.#options.url}: ${lastError || 'closed'}`);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
