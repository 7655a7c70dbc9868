/**
 * Where logged payloads go: rotating JSONL files, and an HTTP webhook that receives batches
 * (CloudEvents batch mode) and is retried with exponential back-off. A sink's write resolves when
 * the batch is accepted and rejects when it is given up on; the payload logger counts both.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { CloudEvent } from './payload-event.js';

export interface PayloadSink {
  readonly name: string;
  write(events: readonly CloudEvent[]): Promise<void>;
  close(): Promise<void>;
}

/** JSON lines, one event per line, in files of at most `maxFileBytes` under `dir`. */
export class RotatingFileSink implements PayloadSink {
  readonly name = 'file';
  readonly #dir: string;
  readonly #maxFileBytes: number;
  #stream: WriteStream | undefined;
  #written = 0;
  #files = 0;

  constructor(dir: string, maxFileBytes = 64 * 1024 * 1024) {
    this.#dir = dir;
    this.#maxFileBytes = maxFileBytes;
    mkdirSync(dir, { recursive: true });
  }

  async write(events: readonly CloudEvent[]): Promise<void> {
    let text = '';
    for (const event of events) text += `${JSON.stringify(event)}\n`;
    const bytes = Buffer.byteLength(text);
    if (this.#stream === undefined || (this.#written > 0 && this.#written + bytes > this.#maxFileBytes)) await this.#rotate();
    this.#written += bytes;
    const stream = this.#stream!;
    await new Promise<void>((resolve, reject) => {
      stream.write(text, (error) => (error ? reject(error) : resolve()));
    });
  }

  async #rotate(): Promise<void> {
    await this.close();
    this.#files += 1;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    this.#stream = createWriteStream(join(this.#dir, `payloads-${stamp}-${this.#files}.jsonl`), { flags: 'wx' });
    this.#written = 0;
  }

  close(): Promise<void> {
    const stream = this.#stream;
    this.#stream = undefined;
    if (!stream) return Promise.resolve();
    return new Promise((resolve) => stream.end(resolve));
  }
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
  readonly #options: Required<WebhookOptions>;
  #closed = false;

  constructor(options: WebhookOptions) {
    this.#options = { attempts: 4, backoffMs: 250, timeoutMs: 5000, ...options };
  }

  async write(events: readonly CloudEvent[]): Promise<void> {
    const body = JSON.stringify(events);
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
