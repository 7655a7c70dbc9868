/**
 * The output side of batch jobs, whatever the format: a row writer per partition file, the JSONL
 * file of refused rows, and the merge of partition files into the job's output.
 */
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { isModelportError, mpError } from '../../core/index.js';
import { FileSink } from './file-sink.js';
import { concatParquet } from './parquet-concat.js';
import { createParquetWriter } from './parquet-writer.js';
import { createCsvWriter, createJsonlWriter } from './text-writers.js';
import type { DataFormat, OutputSchema, RowWriter } from './types.js';

export { createErrorWriter, type ErrorWriter } from './text-writers.js';

/** A writer for `path` (created or truncated); close() fsyncs it. */
export async function createRowWriter(path: string, format: DataFormat, schema: OutputSchema): Promise<RowWriter> {
  switch (format) {
    case 'jsonl':
      return createJsonlWriter(path, schema);
    case 'csv':
      return createCsvWriter(path, schema);
    case 'parquet':
      return createParquetWriter(path, schema);
    default:
      throw mpError('MP_ERR_JOB_INVALID', `unknown output format '${String(format)}': expected jsonl, csv or parquet`);
  }
}

/**
 * Length of a CSV header line: up to the first LF outside quotes (our writer quotes any cell
 * holding a newline), or -1 when `bytes` does not hold the whole line yet.
 */
function headerLength(bytes: Buffer): number {
  let quoted = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === 0x22) quoted = !quoted;
    else if (byte === 0x0a && !quoted) return i + 1;
  }
  return -1;
}

/** Copies a text part into the sink; for CSV parts after the first, checks and drops their header. */
async function copyPart(sink: FileSink, part: string, header: { bytes?: Buffer } | undefined): Promise<void> {
  let head: Buffer | undefined = header === undefined ? undefined : Buffer.alloc(0);
  for await (const chunk of createReadStream(part, { highWaterMark: 1 << 20 })) {
    let bytes = chunk as Buffer;
    if (head !== undefined && header !== undefined) {
      head = Buffer.concat([head, bytes]);
      const length = headerLength(head);
      if (length < 0) continue;
      const line = head.subarray(0, length);
      if (header.bytes === undefined) {
        header.bytes = Buffer.from(line);
        bytes = head;
      } else {
        if (!line.equals(header.bytes)) {
          throw mpError('MP_ERR_JOB_INVALID', `part '${part}' has another header than the first part: parts of one output must share their columns`);
        }
        bytes = head.subarray(length);
      }
      head = undefined;
    }
    if (bytes.length > 0) await sink.write(bytes);
  }
  if (head !== undefined && head.length > 0) {
    // A part that is only an unterminated header line.
    if (header!.bytes === undefined) await sink.write(head);
  }
}

/**
 * Merges partition files, in the order given, into `output`: JSONL byte for byte, CSV keeping the
 * first part's header only, Parquet as one file with each part's row groups. The result depends
 * only on the parts' contents, so parts written across a resumed run merge to the same bytes.
 */
export async function concatParts(parts: string[], output: string, format: DataFormat): Promise<void> {
  if (parts.length === 0) throw mpError('MP_ERR_JOB_INVALID', `no parts to merge into '${output}'`);
  const target = resolve(output);
  if (parts.some((part) => resolve(part) === target)) {
    throw mpError('MP_ERR_JOB_INVALID', `output '${output}' is also one of the parts being merged`);
  }
  if (format === 'parquet') return concatParquet(parts, output);
  if (format !== 'jsonl' && format !== 'csv') {
    throw mpError('MP_ERR_JOB_INVALID', `unknown output format '${String(format)}': expected jsonl, csv or parquet`);
  }
  const sink = await FileSink.create(output);
  try {
    const header = format === 'csv' ? {} : undefined;
    for (const part of parts) {
      try {
        await copyPart(sink, part, header);
      } catch (error) {
        if (isModelportError(error)) throw error;
        throw mpError('MP_ERR_INTERNAL', `cannot read part '${part}': ${(error as Error).message}`, error);
      }
    }
  } catch (error) {
    await sink.abandon();
    throw error;
  }
  await sink.close();
}
