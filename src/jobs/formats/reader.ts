/**
 * The input side of batch jobs, whatever the format: a streamed reader over a row range, the input
 * source a job opens once and reads its partitions from (in blocks of records, which is how the
 * CSV and Parquet readers avoid a fields object per row and Parquet decodes each column chunk
 * once), and the one-pass scan that splits an input into partitions (row ranges, with the byte
 * offset where each starts for the text formats, so a partition's reader seeks instead of
 * re-reading the file).
 */
import { mpError } from '../../core/index.js';
import { readCsvBlocks } from './csv-blocks.js';
import { scanCsvRecords } from './csv-reader.js';
import { readJsonl, scanJsonl } from './jsonl-reader.js';
import { countParquetRows, ParquetSource, readParquet } from './parquet-reader.js';
import { rowRange } from './reader-common.js';
import { CellRecord } from './row-cells.js';
import type { DataFormat, InputRecord, Partition, ReaderOptions, RowReader } from './types.js';

/** JSONL records are handed on in groups of this many. */
const JSONL_GROUP = 256;

async function* plainRecords(blocks: AsyncIterable<InputRecord[]>): AsyncGenerator<InputRecord> {
  for await (const block of blocks) {
    for (const record of block) yield record instanceof CellRecord ? record.toPlain() : record;
  }
}

async function* grouped(records: AsyncIterable<InputRecord>, size: number): AsyncGenerator<InputRecord[]> {
  let group: InputRecord[] = [];
  for await (const record of records) {
    group.push(record);
    if (group.length === size) {
      yield group;
      group = [];
    }
  }
  if (group.length > 0) yield group;
}

/** Records of `path` in input order, from options.startRow (or startByte) up to options.endRow. */
export function openRowReader(path: string, options: ReaderOptions): RowReader {
  switch (options.format) {
    case 'jsonl':
      return { [Symbol.asyncIterator]: () => readJsonl(path, options) };
    case 'csv':
      return { [Symbol.asyncIterator]: () => plainRecords(readCsvBlocks(path, options)) };
    case 'parquet':
      return { [Symbol.asyncIterator]: () => readParquet(path, options) };
    default:
      throw mpError('MP_ERR_JOB_INVALID', `unknown input format '${String(options.format)}': expected jsonl, csv or parquet`);
  }
}

/** A row range to read: ReaderOptions without the format and id column, which the source fixes. */
export type ReadRange = Omit<ReaderOptions, 'format' | 'idColumn'>;

/**
 * An input opened once for a whole job. Its ranges must be read in ascending order (a Parquet
 * source keeps the rows it decoded last for the next range); records come in blocks, and records
 * of the CSV and Parquet sources build their fields object only when asked (see row-cells.ts).
 */
export interface InputSource {
  read(range: ReadRange): AsyncIterable<InputRecord[]>;
  close(): Promise<void>;
}

export async function openInput(path: string, options: Pick<ReaderOptions, 'format' | 'idColumn'>): Promise<InputSource> {
  const { format, idColumn } = options;
  const full = (range: ReadRange): ReaderOptions => ({ ...range, format, ...(idColumn !== undefined ? { idColumn } : {}) });
  switch (format) {
    case 'jsonl':
      return { read: (range) => grouped(readJsonl(path, full(range)), JSONL_GROUP), close: async () => undefined };
    case 'csv':
      return { read: (range) => readCsvBlocks(path, full(range)), close: async () => undefined };
    case 'parquet': {
      const source = await ParquetSource.open(path);
      return { read: (range) => source.blocks(rowRange(full(range)), idColumn), close: () => source.close() };
    }
    default:
      throw mpError('MP_ERR_JOB_INVALID', `unknown input format '${String(format)}': expected jsonl, csv or parquet`);
  }
}

/** Partitions of `rows` rows each from the first rows' start offsets (undefined for Parquet). */
function partitionsOf(rows: number, partitionRows: number, starts: readonly number[] | undefined, emptyStart: number | undefined): Partition[] {
  if (rows === 0) {
    // One empty partition, so an empty input still yields an output with its header or schema.
    return [emptyStart === undefined ? { index: 0, startRow: 0, endRow: 0 } : { index: 0, startRow: 0, endRow: 0, startByte: emptyStart }];
  }
  const partitions: Partition[] = [];
  for (let index = 0, startRow = 0; startRow < rows; index++, startRow += partitionRows) {
    const partition: Partition = { index, startRow, endRow: Math.min(rows, startRow + partitionRows) };
    if (starts !== undefined) partition.startByte = starts[index]!;
    partitions.push(partition);
  }
  return partitions;
}

/**
 * Counts the input's data rows and cuts them into partitions of `partitionRows`, in one streamed
 * pass (JSONL, CSV) or from the footer alone (Parquet). An empty input gives one empty partition.
 */
export async function scanPartitions(path: string, format: DataFormat, partitionRows: number): Promise<{ partitions: Partition[]; rows: number }> {
  if (!Number.isSafeInteger(partitionRows) || partitionRows < 1) {
    throw mpError('MP_ERR_JOB_INVALID', `partitionRows must be a positive integer, got ${String(partitionRows)}`);
  }
  switch (format) {
    case 'jsonl': {
      const { starts, rows } = await scanJsonl(path, partitionRows);
      return { partitions: partitionsOf(rows, partitionRows, starts, 0), rows };
    }
    case 'csv': {
      // Record 0 is the header: the offsets past records 0, n, 2n… start data rows 0, n, 2n…
      const { ends, records } = await scanCsvRecords(path, partitionRows);
      const rows = Math.max(0, records - 1);
      return { partitions: partitionsOf(rows, partitionRows, ends, ends[0] ?? 0), rows };
    }
    case 'parquet': {
      const rows = await countParquetRows(path);
      return { partitions: partitionsOf(rows, partitionRows, undefined, undefined), rows };
    }
    default:
      throw mpError('MP_ERR_JOB_INVALID', `unknown input format '${String(format)}': expected jsonl, csv or parquet`);
  }
}
