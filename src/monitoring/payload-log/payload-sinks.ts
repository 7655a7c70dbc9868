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

/** Records to write: CloudEvents as JSON lines, in ASCII (other characters \u-escaped). */
export interface RecordBatch {
  /** Each record followed by "\n". The memory is reused once write() has settled. */
  lines: Buffer;
  count: number;
}

export interface PayloadSink extends SinkDescriptor {
  write(batch: RecordBatch): Promise<void>;
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

/** JSON lines, one event per line, in files of at most `maxFileBytes` under `dir`; each batch in one write. */
export class RotatingFileSink implements PayloadSink {
  readonly name = 'file';
  readonly spec: SinkSpec;
  readonly #dir: string;
  readonly #maxFileBytes: number;
  #fd: number | undefined;
  #written = 0;
  #files = 0;

  constructor(dir: string, maxFileBytes = 64 * 1024 * 1024) {
    this.#dir = dir;
    this.#maxFileBytes = maxFileBytes;
    this.spec = { kind: 'file', dir, maxFileBytes };
    // Here as well as on the logging thread: a directory that cannot be made fails at start-up.
    mkdirSync(dir, { recursive: true });
  }

  async write(batch: RecordBatch): Promise<void> {
    const lines = batch.lines;
    if (this.#fd === undefined || (this.#written > 0 && this.#written + lines.length > this.#maxFileBytes)) await this.#rotate();
    const fd = this.#fd!;
    this.#written += lines.length;
    // A short write (a full disk, say) goes on with the rest, until it is all out or fails.
    for (let done = 0; done < lines.length; ) done += await writeBytes(fd, lines.subarray(done));
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

  async write(batch: RecordBatch): Promise<void> {
    const body = jsonArray(batch.lines);
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

/** JSON lines as one JSON array, in a buffer of its own (a retry may send it after the lines are reused). */
export function jsonArray(lines: Buffer): Buffer {
  if (lines.length === 0) return Buffer.from('[]');
  const body = Buffer.allocUnsafe(lines.length + 1);
  body[0] = 0x5b; // [
  lines.copy(body, 1);
  // Records are ASCII JSON with their line breaks escaped: every raw "\n" ends one.
  for (let at = body.indexOf(0x0a, 1); at !== -1; at = body.indexOf(0x0a, at + 1)) body[at] = 0x2c; // ,
  body[body.length - 1] = 0x5d; // ]
  return body;
}
