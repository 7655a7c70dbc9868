/**
 * Parquet input through hyparquet. Rows are read a slice at a time (a few thousand rows, every
 * column, as column arrays) and turned into records one by one as they are taken, so memory holds
 * one slice's column values plus what hyparquet decodes for it. Row groups whose column chunks
 * carry offset indexes are read page-wise (only the pages covering the slice are fetched and
 * decoded); for row groups without them, each column chunk is decoded once for the part of the
 * group being read and sliced from there, since decoding it again per slice would cost
 * quadratically: memory then follows the file's row-group size.
 */
import { parquetScan, parquetSchema, type DecodedArray, type FileMetaData } from 'hyparquet';
import { openParquetFile, parquetInputError } from './parquet-file.js';
import { idOf, rowRange } from './reader-common.js';
import { attachCells, rowLayout } from './row-cells.js';
import type { InputRecord, ReaderOptions } from './types.js';

/** Rows turned into records per read. */
const SLICE_ROWS = 4096;

/** [start, end) row span of each row group, and whether all its columns have offset indexes. */
function groupSpans(metadata: FileMetaData): Array<{ start: number; end: number; paged: boolean }> {
  let start = 0;
  return metadata.row_groups.map((group) => {
    const end = start + Number(group.num_rows);
    const span = { start, end, paged: group.columns.every((column) => column.offset_index_offset !== undefined) };
    start = end;
    return span;
  });
}

export async function* readParquet(path: string, options: ReaderOptions): AsyncGenerator<InputRecord> {
  const { startRow, endRow } = rowRange(options);
  const file = await openParquetFile(path);
  try {
    const { metadata, buffer } = file;
    const end = Math.min(endRow, Number(metadata.num_rows));
    if (startRow >= end) return;
    const columns = parquetSchema(metadata).children.map((child) => child.element.name);
    // A column named "__proto__" must become a property, not the record's prototype.
    const safeNames = !columns.includes('__proto__');
    const layout = rowLayout(columns);
    const idColumn = options.idColumn !== undefined && columns.includes(options.idColumn) ? options.idColumn : undefined;
    let scan;
    try {
      scan = await parquetScan({ file: buffer, metadata, rowStart: startRow, rowEnd: end, useOffsetIndex: true });
    } catch (error) {
      throw parquetInputError(path, error);
    }
    for (const span of groupSpans(metadata)) {
      const from = Math.max(span.start, startRow);
      const to = Math.min(span.end, end);
      if (from >= to) continue;
      const read = async (rowStart: number, rowEnd: number): Promise<DecodedArray[]> => {
        try {
          return await Promise.all(columns.map((column) => scan.readColumn({ column, rowStart, rowEnd })));
        } catch (error) {
          throw parquetInputError(path, error);
        }
      };
      // Without page indexes, decode the group's part once; the scan keeps it and slices it.
      if (!span.paged && to - from > SLICE_ROWS) await read(from, to);
      for (let sliceStart = from; sliceStart < to; sliceStart += SLICE_ROWS) {
        const sliceEnd = Math.min(to, sliceStart + SLICE_ROWS);
        const data = await read(sliceStart, sliceEnd);
        // Records are made as they are taken: a wide row is a large object, and a slice of them
        // built up front would hold thousands at once.
        for (let row = 0; row < sliceEnd - sliceStart; row++) {
          const fields: Record<string, unknown> = {};
          const cells: unknown[] = new Array(columns.length);
          for (let c = 0; c < columns.length; c++) cells[c] = data[c]![row];
          if (safeNames) {
            for (let c = 0; c < columns.length; c++) fields[columns[c]!] = cells[c];
          } else {
            for (let c = 0; c < columns.length; c++) {
              Object.defineProperty(fields, columns[c]!, { value: cells[c], enumerable: true, writable: true, configurable: true });
            }
          }
          attachCells(fields, layout, cells);
          const index = sliceStart + row;
          yield { index, id: idColumn === undefined ? String(index) : idOf(fields[idColumn], index), fields };
        }
      }
    }
  } finally {
    await file.close();
  }
}

export async function countParquetRows(path: string): Promise<number> {
  const file = await openParquetFile(path);
  await file.close();
  return Number(file.metadata.num_rows);
}
