/**
 * CSV input through csv-parse's streaming parser: the first record is the header, every later one
 * a row whose fields are named by it (values stay strings; the row mapper converts them). A row
 * whose field count differs from the header's becomes a record carrying `error`. Parsing is
 * lenient about stray quotes (relax_quotes) so one odd cell does not stop a job; what cannot be
 * parsed at all (a quote never closed, a record over the size limit) fails the read with
 * MP_ERR_JOB_INPUT, since everything after it would be misread.
 *
 * Partitions start at byte offsets so a reader can seek: the header is then read separately from
 * the file's start. The scan takes those offsets from CsvRecordScanner, or, for files outside the
 * subset it reproduces, from csv-parse's own byte counter at each record.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { parse, type Options } from 'csv-parse';
import { mpError } from '../../core/index.js';
import { attachCells, rowLayout, type RowLayout } from './row-cells.js';
import { CsvRecordScanner } from './csv-scanner.js';
import { idOf, inputError, rowRange } from './reader-common.js';
import type { InputRecord, ReaderOptions } from './types.js';

/** Read size: a chunk's records are parsed at once, so this bounds the records held in memory. */
const CHUNK_BYTES = 256 * 1024;
const SCAN_CHUNK_BYTES = 1 << 20;

/** Largest record csv-parse will build (characters): a guard against an unclosed quote swallowing the file. */
const MAX_RECORD_CHARS = 64 * 1024 * 1024;

function parserOptions(fromFileStart: boolean, extra: Options = {}): Options {
  return {
    // A BOM can only be at the file's start; mid-file reads must not strip bytes that look like one.
    bom: fromFileStart,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_CHARS,
    ...extra,
  };
}

function parseError(path: string, error: unknown) {
  const code = (error as { code?: unknown } | undefined)?.code;
  if ((typeof code === 'string' && code.startsWith('CSV_')) || code === 'INVALID_OPENING_QUOTE') {
    return mpError('MP_ERR_JOB_INPUT', `CSV input '${path}' cannot be parsed: ${(error as Error).message}`, error);
  }
  return inputError(path, error);
}

/** Streams a file through a fresh parser; the caller iterates the parser's records. */
function openParser(path: string, start: number, options: Options, chunkBytes = CHUNK_BYTES) {
  const source = createReadStream(path, { start, highWaterMark: chunkBytes });
  const parser = parse(options);
  // The pipeline forwards a read error into the parser, where the iteration sees it; the early
  // end of a read that stops at endRow is not an error.
  pipeline(source, parser, () => {});
  return parser;
}

/**
 * The header record, the offset where the first data row may start, and the line ending the
 * parser settled on reading it.
 */
export async function readCsvHeader(path: string): Promise<{ header: string[] | undefined; end: number; lineEnding: Buffer[] }> {
  let end = 0;
  const parser = openParser(path, 0, parserOptions(true, {
    to: 1,
    on_record: (record, context) => {
      end = context.bytes;
      return record;
    },
  }));
  try {
    for await (const record of parser) return { header: record as string[], end, lineEnding: [...parser.options.record_delimiter] };
    return { header: undefined, end: 0, lineEnding: [] };
  } catch (error) {
    throw parseError(path, error);
  } finally {
    parser.destroy();
  }
}

/** Names a record's fields by the header. */
function fieldsOf(header: readonly string[], values: readonly string[], safeHeader: boolean, layout: RowLayout): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  attachCells(fields, layout, values);
  if (safeHeader) {
    for (let i = 0; i < header.length; i++) fields[header[i]!] = values[i];
  } else {
    // A column named "__proto__" must become a property, not the object's prototype.
    for (let i = 0; i < header.length; i++) {
      Object.defineProperty(fields, header[i]!, { value: values[i], enumerable: true, writable: true, configurable: true });
    }
  }
  return fields;
}

export async function* readCsv(path: string, options: ReaderOptions): AsyncGenerator<InputRecord> {
  const { startRow, endRow, startByte } = rowRange(options);
  if (startRow >= endRow) return;
  let header: string[] | undefined;
  let from = 0;
  let index = 0;
  // csv-parse settles on LF, CRLF or CR at the first line end it meets. A read that starts
  // mid-file must use the one settled on at the file's start (a lone CR inside a row of an LF file
  // would otherwise be taken for the line ending).
  let lineEnding: Options = {};
  if (startByte !== undefined) {
    const head = await readCsvHeader(path);
    header = head.header;
    if (header === undefined) return;
    // An offset inside the header means "from the first row": numbering starts at 0 there.
    if (startByte > head.end) {
      from = startByte;
      index = startRow;
    } else {
      from = head.end;
    }
    if (head.lineEnding.length > 0) lineEnding = { record_delimiter: head.lineEnding };
  }
  const parser = openParser(path, from, parserOptions(from === 0, lineEnding));
  let safeHeader = true;
  let idIndex = -1;
  let layout = rowLayout([]);
  const useHeader = (names: string[]) => {
    header = names;
    layout = rowLayout(names);
    safeHeader = !names.includes('__proto__');
    idIndex = options.idColumn === undefined ? -1 : names.indexOf(options.idColumn);
  };
  if (header !== undefined) useHeader(header);
  try {
    for await (const raw of parser) {
      const values = raw as string[];
      if (header === undefined) {
        useHeader(values);
        continue;
      }
      const rowIndex = index++;
      if (rowIndex < startRow) continue;
      if (rowIndex >= endRow) return;
      const id = idIndex >= 0 ? idOf(values[idIndex], rowIndex) : String(rowIndex);
      if (values.length !== header.length) {
        yield { index: rowIndex, id, error: `row has ${values.length} fields, expected ${header.length} (one per header column)` };
      } else {
        yield { index: rowIndex, id, fields: fieldsOf(header, values, safeHeader, layout) };
      }
    }
  } catch (error) {
    throw parseError(path, error);
  } finally {
    parser.destroy();
  }
}

/**
 * Offsets just past records 0, n, 2n, … (record 0 is the header, so these are where data rows
 * 0, n, 2n, … may start) and the number of records, header included.
 */
export async function scanCsvRecords(path: string, every: number, useScanner = true): Promise<{ ends: number[]; records: number }> {
  if (useScanner) {
    const ends: number[] = [];
    let records = 0;
    const scanner = new CsvRecordScanner((end) => {
      if (records % every === 0) ends.push(end);
      records++;
    });
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: SCAN_CHUNK_BYTES })) {
        scanner.push(chunk as Buffer);
        if (scanner.irregular !== undefined) break;
      }
      if (scanner.irregular === undefined) scanner.end();
    } catch (error) {
      throw inputError(path, error);
    }
    if (scanner.irregular === undefined) return { ends, records };
  }
  const ends: number[] = [];
  let records = 0;
  const parser = openParser(path, 0, parserOptions(true, {
    on_record: (_record, context) => {
      if (records % every === 0) ends.push(context.bytes);
      records++;
      // Nothing to hand on: only the offsets are wanted.
      return null;
    },
  }), SCAN_CHUNK_BYTES);
  try {
    for await (const _ of parser) void _;
  } catch (error) {
    throw parseError(path, error);
  }
  return { ends, records };
}
