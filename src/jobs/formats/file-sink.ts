/**
 * Sequential writes to one file that are only reported done once the bytes are handed to the
 * kernel, and a close that fsyncs: the engine renames a finished partition into place and records
 * it as done, which is only safe when the data is durable first.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { mpError } from '../../core/index.js';

export class FileSink {
  private closed = false;

  private constructor(readonly path: string, private readonly handle: FileHandle) {}

  /** Creates (or truncates) `path`. */
  static async create(path: string): Promise<FileSink> {
    try {
      return new FileSink(path, await open(path, 'w'));
    } catch (error) {
      throw mpError('MP_ERR_JOB_INVALID', `cannot create output '${path}': ${(error as Error).message}`, error);
    }
  }

  async write(data: string | Uint8Array): Promise<void> {
    if (this.closed) throw mpError('MP_ERR_INTERNAL', `output '${this.path}' is already closed`);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let done = 0;
    // write() may take less than asked for; keep going until every byte is in.
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done);
      done += bytesWritten;
    }
  }

  /** Flushes to disk and closes; a second call does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }

  /** Closes without syncing, after a failure (the file is incomplete anyway). */
  async abandon(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
