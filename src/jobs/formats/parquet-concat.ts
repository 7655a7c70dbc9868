/**
 * Joins Parquet part files into one without decoding them. Each part's column chunks are copied
 * byte for byte, in order, and one footer lists every part's row groups with their file offsets
 * moved to where the chunks now lie. Page indexes follow the chunks as the writer lays them out
 * (column indexes, then offset indexes, then bloom filters); offset indexes hold absolute page
 * offsets, so they are read, moved and written again, and the others are copied as they are.
 *
 * A job's output is a few hundred part files of one row group each, and decoding and re-encoding
 * all of them (the obvious way to merge) took seconds per million rows at the very end of a job,
 * with the model idle. Copying takes a moment, and since the footer comes from hyparquet-writer's
 * own metadata writer, parts written as whole row groups merge into exactly the bytes one writer
 * would have produced over all their rows.
 */
import { readOffsetIndex, type ColumnChunk, type FileMetaData, type OffsetIndex, type RowGroup, type Statistics } from 'hyparquet';
import { deserializeTCompactProtocol } from 'hyparquet/src/thrift.js';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import { serializeTCompactProtocol } from 'hyparquet-writer/src/thrift.js';
import { mpError } from '../../core/index.js';
import { FileSink } from './file-sink.js';
import { openParquetFile, parquetInputError, type ParquetFile } from './parquet-file.js';
import { FileByteWriter } from './parquet-writer.js';

const MAGIC = 0x31524150; // "PAR1"
/** Chunk bytes are copied in pieces of at most this size. */
const COPY_BYTES = 8 << 20;

/** A chunk's page index or bloom filter, read from its part, to be written after all the data. */
interface Trailer {
  chunk: ColumnChunk;
  columnIndex?: Uint8Array;
  offsetIndex?: OffsetIndex;
  bloomFilter?: Uint8Array;
}

const shift = (offset: bigint | undefined, delta: bigint): bigint | undefined => (offset === undefined ? undefined : offset + delta);

/** Where a chunk's pages start: its dictionary page when it has one. */
function chunkStart(chunk: ColumnChunk): bigint {
  const meta = chunk.meta_data!;
  return meta.dictionary_page_offset !== undefined && meta.dictionary_page_offset > 0n ? meta.dictionary_page_offset : meta.data_page_offset;
}

/** The byte range holding every column chunk of the file. */
function dataRange(metadata: FileMetaData): { start: bigint; end: bigint } {
  let start: bigint | undefined;
  let end = 0n;
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      if (chunk.meta_data === undefined || chunk.file_path !== undefined) throw new Error('a column chunk lives in another file');
      const from = chunkStart(chunk);
      const to = from + chunk.meta_data.total_compressed_size;
      if (start === undefined || from < start) start = from;
      if (to > end) end = to;
    }
  }
  return { start: start ?? 4n, end: start === undefined ? 4n : end };
}

/** The footer's thrift fields that hold statistics' nan_count: row_groups[g].columns[c].meta_data.statistics.nan_count. */
interface RawFooter {
  field_4?: Array<{ field_1?: Array<{ field_3?: { field_12?: { field_9?: bigint } } }> }>;
}

/**
 * The nan_count of each chunk's statistics (Statistics field 9), by row group and column.
 * hyparquet-writer writes it for float columns, but hyparquet's footer reader leaves it out; it is
 * read from the footer's thrift so that the merged footer says what the parts said.
 */
async function nanCounts(file: ParquetFile, metadata: FileMetaData): Promise<Array<Array<bigint | undefined>>> {
  const size = file.buffer.byteLength;
  const bytes = new Uint8Array(await file.buffer.slice(size - 8 - metadata.metadata_length, size - 8));
  const raw = deserializeTCompactProtocol({ view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 }) as RawFooter;
  return metadata.row_groups.map((group, g) => group.columns.map((_, c) => raw.field_4?.[g]?.field_1?.[c]?.field_3?.field_12?.field_9));
}

/** The row group with its chunks' offsets moved by `delta` bytes (index offsets are set when they are written). */
function moveGroup(group: RowGroup, delta: bigint, nans: ReadonlyArray<bigint | undefined>): RowGroup {
  const columns = group.columns.map((chunk, c): ColumnChunk => {
    const meta = chunk.meta_data!;
    const nan_count = nans[c];
    return {
      ...chunk,
      file_offset: chunk.file_offset + delta,
      offset_index_offset: undefined,
      offset_index_length: undefined,
      column_index_offset: undefined,
      column_index_length: undefined,
      meta_data: {
        ...meta,
        data_page_offset: meta.data_page_offset + delta,
        index_page_offset: shift(meta.index_page_offset, delta),
        dictionary_page_offset: shift(meta.dictionary_page_offset, delta),
        bloom_filter_offset: undefined,
        bloom_filter_length: undefined,
        statistics: meta.statistics === undefined || nan_count === undefined ? meta.statistics : { ...meta.statistics, nan_count } as Statistics,
      },
    };
  });
  return { ...group, columns, file_offset: shift(group.file_offset, delta) };
}

async function readBytes(file: ParquetFile, offset: bigint | undefined, length: number | undefined): Promise<Uint8Array | undefined> {
  if (offset === undefined || length === undefined) return undefined;
  return new Uint8Array(await file.buffer.slice(Number(offset), Number(offset) + length));
}

/** The part's page indexes and bloom filters, attached to its moved chunks. */
async function readTrailers(file: ParquetFile, original: RowGroup, moved: RowGroup, delta: bigint): Promise<Trailer[]> {
  const trailers: Trailer[] = [];
  for (let c = 0; c < original.columns.length; c++) {
    const chunk = original.columns[c]!;
    const meta = chunk.meta_data!;
    const columnIndex = await readBytes(file, chunk.column_index_offset, chunk.column_index_length);
    const offsetBytes = await readBytes(file, chunk.offset_index_offset, chunk.offset_index_length);
    const bloomFilter = await readBytes(file, meta.bloom_filter_offset, meta.bloom_filter_length);
    if (columnIndex === undefined && offsetBytes === undefined && bloomFilter === undefined) continue;
    let offsetIndex: OffsetIndex | undefined;
    if (offsetBytes !== undefined) {
      const read = readOffsetIndex({ view: new DataView(offsetBytes.buffer, offsetBytes.byteOffset, offsetBytes.byteLength), offset: 0 });
      offsetIndex = { page_locations: read.page_locations.map((page) => ({ ...page, offset: page.offset + delta })) };
    }
    trailers.push({ chunk: moved.columns[c]!, columnIndex, offsetIndex, bloomFilter });
  }
  return trailers;
}

/** Copies bytes [start, end) of the part to the output. */
async function copyRange(file: ParquetFile, start: number, end: number, out: FileByteWriter): Promise<void> {
  for (let at = start; at < end; at += COPY_BYTES) {
    await out.appendDirect(new Uint8Array(await file.buffer.slice(at, Math.min(end, at + COPY_BYTES))));
  }
}

/** Writes each chunk's page indexes and bloom filter after the data, recording where they went. */
function writeTrailers(out: FileByteWriter, trailers: readonly Trailer[]): void {
  for (const { chunk, columnIndex } of trailers) {
    if (columnIndex === undefined) continue;
    chunk.column_index_offset = BigInt(out.offset);
    out.appendBytes(columnIndex);
    chunk.column_index_length = columnIndex.length;
  }
  for (const { chunk, offsetIndex } of trailers) {
    if (offsetIndex === undefined) continue;
    const at = out.offset;
    serializeTCompactProtocol(out, {
      field_1: offsetIndex.page_locations.map((page) => ({ field_1: page.offset, field_2: page.compressed_page_size, field_3: page.first_row_index })),
    });
    chunk.offset_index_offset = BigInt(at);
    chunk.offset_index_length = out.offset - at;
  }
  for (const { chunk, bloomFilter } of trailers) {
    if (bloomFilter === undefined) continue;
    chunk.meta_data!.bloom_filter_offset = BigInt(out.offset);
    out.appendBytes(bloomFilter);
    chunk.meta_data!.bloom_filter_length = bloomFilter.length;
  }
}

/** Merges Parquet parts (one schema) into `output`, their row groups in order. */
export async function concatParquet(parts: readonly string[], output: string): Promise<void> {
  if (parts.length === 0) throw mpError('MP_ERR_JOB_INVALID', 'no parts to concatenate');
  const sink = await FileSink.create(output);
  try {
    const out = new FileByteWriter(sink);
    out.appendUint32(MAGIC);
    let first: FileMetaData | undefined;
    let schemaText: string | undefined;
    let rows = 0n;
    const groups: RowGroup[] = [];
    const trailers: Trailer[] = [];
    for (const part of parts) {
      const file = await openParquetFile(part);
      try {
        const { metadata } = file;
        const text = JSON.stringify(metadata.schema);
        if (first === undefined) {
          first = metadata;
          schemaText = text;
        } else if (text !== schemaText) {
          throw mpError('MP_ERR_JOB_INVALID', `part '${part}' has other columns than '${parts[0]}': parts of one output must share a schema`);
        }
        let range: { start: bigint; end: bigint };
        try {
          range = dataRange(metadata);
        } catch (error) {
          throw parquetInputError(part, error);
        }
        const delta = BigInt(out.offset) - range.start;
        await copyRange(file, Number(range.start), Number(range.end), out);
        const nans = await nanCounts(file, metadata);
        for (const [g, group] of metadata.row_groups.entries()) {
          const moved = moveGroup(group, delta, nans[g]!);
          groups.push(moved);
          trailers.push(...(await readTrailers(file, group, moved, delta)));
        }
        rows += metadata.num_rows;
      } finally {
        await file.close();
      }
    }
    writeTrailers(out, trailers);
    const { version, created_by, schema, key_value_metadata } = first!;
    writeMetadata(out, { version, created_by, schema, num_rows: rows, row_groups: groups, key_value_metadata } as FileMetaData);
    out.appendUint32(MAGIC);
    await out.finish();
  } catch (error) {
    await sink.abandon();
    throw error;
  }
  await sink.close();
}
