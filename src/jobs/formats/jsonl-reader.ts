/**
 * JSON Lines input: one JSON object (or bare array) per line, read as a byte stream and split on
 * newlines, so memory holds one chunk whatever the file's size. A line that is not JSON, or is
 * JSON but neither an object nor an array, becomes a record carrying `error`; blank lines are
 * not rows. The scan counts rows with the same splitter and blank-line rule as the reader, which
 * is what makes a partition's byte offset land exactly on its first row.
 */
import { createReadStream } from 'node:fs';
import { brief, idOf, inputError, rowRange } from './reader-common.js';
import { jsonlContentStart, LineSplitter, MAX_LINE_BYTES, type LineSink } from './line-splitter.js';
import type { InputRecord, ReaderOptions } from './types.js';

/** Read size: a chunk's records are parsed at once, so this bounds the records held in memory. */
const CHUNK_BYTES = 256 * 1024;
const SCAN_CHUNK_BYTES = 1 << 20;

function describe(value: unknown): string {
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** One line as a record. */
function toRecord(text: string, index: number, idColumn: string | undefined): InputRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { index, id: String(index), error: `line is not valid JSON: ${brief((error as Error).message)}` };
  }
  let fields: Record<string, unknown>;
  if (Array.isArray(value)) {
    // A bare array: positions become field names, as InputRecord documents.
    fields = { ...value };
  } else if (value !== null && typeof value === 'object') {
    fields = value as Record<string, unknown>;
  } else {
    return { index, id: String(index), error: `line holds ${describe(value)}, expected a JSON object or array` };
  }
  return { index, id: idColumn === undefined ? String(index) : idOf(fields[idColumn], index), fields };
}

export async function* readJsonl(path: string, options: ReaderOptions, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<InputRecord> {
  const { startRow, endRow, startByte } = rowRange(options);
  const idColumn = options.idColumn;
  // Seeking lands on startRow; otherwise rows before it are counted but not parsed.
  let index = startByte === undefined ? 0 : startRow;
  if (index >= endRow || startRow >= endRow) return;
  const splitter = new LineSplitter(startByte ?? 0, maxLineBytes);
  let batch: InputRecord[] = [];
  const sink: LineSink = (buf, start, end, offset, oversized) => {
    if (oversized) {
      if (index >= startRow && index < endRow) {
        batch.push({ index, id: String(index), error: `line is longer than ${maxLineBytes} bytes` });
      }
      index++;
      return;
    }
    const from = jsonlContentStart(buf, start, end, offset);
    if (from < 0) return;
    if (index >= startRow && index < endRow) batch.push(toRecord(buf.toString('utf8', from, end), index, idColumn));
    index++;
  };
  const stream = createReadStream(path, { start: startByte ?? 0, highWaterMark: CHUNK_BYTES });
  try {
    for await (const chunk of stream) {
      splitter.push(chunk as Buffer, sink);
      if (batch.length > 0) {
        const ready = batch;
        batch = [];
        yield* ready;
      }
      if (index >= endRow) return;
    }
    splitter.end(sink);
    yield* batch;
  } catch (error) {
    throw inputError(path, error);
  } finally {
    stream.destroy();
  }
}

/** Start offsets of rows 0, n, 2n, … and the row count, in one pass over the file. */
export async function scanJsonl(path: string, partitionRows: number, maxLineBytes = MAX_LINE_BYTES): Promise<{ starts: number[]; rows: number }> {
  const starts: number[] = [];
  let rows = 0;
  const splitter = new LineSplitter(0, maxLineBytes);
  const sink: LineSink = (buf, start, lineEnd, offset, oversized) => {
    if (!oversized && jsonlContentStart(buf, start, lineEnd, offset) < 0) return;
    if (rows % partitionRows === 0) starts.push(offset);
    rows++;
  };
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: SCAN_CHUNK_BYTES })) {
      splitter.push(chunk as Buffer, sink);
    }
    splitter.end(sink);
  } catch (error) {
    throw inputError(path, error);
  }
  return { starts, rows };
}
