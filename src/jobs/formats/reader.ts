/**
 * The input side of batch jobs, whatever the format: a streamed reader over a row range, and the
 * one-pass scan that splits an input into partitions (row ranges, with the byte offset where each
 * starts for the text formats, so a partition's reader seeks instead of re-reading the file).
 */
import { mpError } from '../../core/index.js';
import { readCsv, scanCsvRecords } from './csv-reader.js';
import { readJsonl, scanJsonl } from './jsonl-reader.js';
import { countParquetRows, readParquet } from './parquet-reader.js';
import type { DataFormat, Partition, ReaderOptions, RowReader } from './types.js';

/** Records of `path` in input order, from options.startRow (or startByte) up to options.endRow. */
export function openRowReader(path: string, options: ReaderOptions): RowReader {
  switch (options.format) {
    case 'jsonl':
      return { [Symbol.asyncIterator]: () => readJsonl(path, options) };
    case 'csv':
      return { [Symbol.asyncIterator]: () => readCsv(path, options) };
    case 'parquet':
      return { [Symbol.asyncIterator]: () => readParquet(path, options) };
    default:
      throw mpError('MP_ERR_JOB_INVALID', `unknown input format '${String(options.format)}': expected jsonl, csv or parquet`);
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
