/**
 * One column of one row group, decoded front to back a block of rows at a time without ever
 * holding a whole page: page header, definition levels, then the values as they are taken from the
 * page's bytes (see page-bytes.ts). This is how a Parquet job reads a wide file in memory that does
 * not grow with the row group: a writer's page is often the whole column chunk (hyparquet-writer's
 * 1 MB pages hold 250k FLOAT values), and decoding pages whole meant holding every column's page
 * for as long as any of its rows were still to be read.
 *
 * It covers what numeric feature files are made of: flat REQUIRED or OPTIONAL columns of FLOAT,
 * DOUBLE, INT32, INT64 (no logical type) and strings, PLAIN-encoded, uncompressed or Snappy, in
 * version 1 or 2 data pages. Anything else (dictionaries, other encodings or codecs, nested or
 * converted types) is left to hyparquet: columnKind() says no up front, and a page found to be
 * different on the way throws StreamUnsupported. The values equal hyparquet's for the same rows:
 * typed arrays for numbers (an array with nulls where an OPTIONAL column has some), strings decoded
 * as UTF-8 the way hyparquet does it.
 */
import type { ColumnChunk, DecodedArray, SchemaElement } from 'hyparquet';
import type { ChunkBytes } from './chunk-bytes.js';
import { RawPageBytes, SnappyPageBytes, StreamUnsupported, takeExactly, type PageBytes } from './page-bytes.js';
import { Encoding, PageType, readPageHeader, ShortHeader, type PageHeader } from './parquet-page-header.js';

export type ColumnKind = 'float' | 'double' | 'int32' | 'int64' | 'string';

const WIDTH: Record<Exclude<ColumnKind, 'string'>, number> = { float: 4, double: 8, int32: 4, int64: 8 };

/** The kind of a top-level column this decoder reads, or undefined for one it leaves to hyparquet. */
export function columnKind(element: SchemaElement): ColumnKind | undefined {
  if (element.num_children !== undefined && element.num_children > 0) return undefined;
  if (element.repetition_type === 'REPEATED') return undefined;
  const converted = element.converted_type;
  const logical = element.logical_type?.type;
  if (element.type === 'BYTE_ARRAY') {
    if ((converted === undefined || converted === 'UTF8') && (logical === undefined || logical === 'STRING')) return 'string';
    return undefined;
  }
  if (converted !== undefined || logical !== undefined) return undefined;
  switch (element.type) {
    case 'FLOAT':
      return 'float';
    case 'DOUBLE':
      return 'double';
    case 'INT32':
      return 'int32';
    case 'INT64':
      return 'int64';
    default:
      return undefined;
  }
}

/** Whether a row group's chunk of a column can be streamed, by its footer entry. */
export function chunkStreamable(chunk: ColumnChunk): boolean {
  const meta = chunk.meta_data;
  if (meta === undefined || chunk.file_path !== undefined) return false;
  if (meta.codec !== 'SNAPPY' && meta.codec !== 'UNCOMPRESSED') return false;
  // Some writers put a 0 here for no dictionary; a dictionary page found anyway stops the stream.
  if (meta.dictionary_page_offset) return false;
  return meta.encodings.every((encoding) => encoding === 'PLAIN' || encoding === 'RLE' || encoding === 'BIT_PACKED');
}

/** Where a chunk's pages start and end in the file. */
export function chunkRange(chunk: ColumnChunk): { start: number; end: number } {
  const meta = chunk.meta_data!;
  const start = Number(meta.data_page_offset);
  return { start, end: start + Number(meta.total_compressed_size) };
}

const utf8 = new TextDecoder();

/** The little-endian int32 at bytes[at…at + 4) (a string's or the levels' byte length). */
function int32At(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}

/** Levels of a flat OPTIONAL column (bit width 1, RLE / bit-packed hybrid) into out[0…count). */
function decodeLevels(bytes: Uint8Array, count: number, out: Uint8Array): void {
  let at = 0;
  let i = 0;
  while (i < count) {
    if (at >= bytes.length) throw new Error('definition levels end before the page does');
    let header = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[at++]!;
      header += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
      if (at >= bytes.length) throw new Error('definition levels end inside a run header');
    }
    if (header % 2 === 0) {
      const run = Math.min(header / 2, count - i);
      const value = bytes[at++];
      if (value === undefined) throw new Error('definition levels end inside a run');
      if (value > 1) throw new Error(`definition level ${value} in a column whose highest is 1`);
      out.fill(value, i, i + run);
      i += run;
    } else {
      const groups = (header - 1) / 2;
      for (let g = 0; g < groups && i < count; g++) {
        const byte = bytes[at++];
        if (byte === undefined) throw new Error('definition levels end inside a bit-packed run');
        for (let bit = 0; bit < 8 && i < count; bit++) out[i++] = (byte >> bit) & 1;
      }
    }
  }
}

/** The per-column buffers a stream decodes through; a source keeps one set per column for all its groups. */
export interface StreamBuffers {
  chunk: ChunkBytes;
  ring: Uint8Array;
}

export class ColumnStream {
  #header: PageHeader | undefined;
  /** Rows of the current page not yet read. */
  #pageRows = 0;
  /** File position where the current page's bytes end. */
  #pageEnd = 0;
  #values: PageBytes | undefined;
  /** Definition levels of the current page (OPTIONAL columns), and how far they were read. */
  #levels: Uint8Array | undefined;
  #levelAt = 0;
  #scratch = new Uint8Array(64);

  constructor(
    readonly kind: ColumnKind,
    readonly optional: boolean,
    readonly codec: 'SNAPPY' | 'UNCOMPRESSED',
    readonly buffers: StreamBuffers,
  ) {}

  /** The next `rows` values. */
  read(rows: number): DecodedArray {
    const kind = this.kind;
    const out: DecodedArray = kind === 'string' ? new Array<string>(rows) : newTyped(kind, rows);
    // Values land packed at out[0…values); rows without one are remembered and spread out at the end.
    let present: Uint8Array | undefined;
    let values = 0;
    let row = 0;
    while (row < rows) {
      if (this.#pageRows === 0) this.#nextPage();
      const k = Math.min(rows - row, this.#pageRows);
      let defined = k;
      const levels = this.#levels;
      if (levels !== undefined) {
        defined = 0;
        for (let i = this.#levelAt; i < this.#levelAt + k; i++) defined += levels[i]!;
        if (defined < k) {
          present ??= new Uint8Array(rows).fill(1, 0, row);
          present.set(levels.subarray(this.#levelAt, this.#levelAt + k), row);
        } else present?.fill(1, row, row + k);
        this.#levelAt += k;
      } else present?.fill(1, row, row + k);
      if (kind === 'string') this.#readStrings(out as string[], values, defined);
      else {
        const typed = out as Float32Array;
        const width = WIDTH[kind];
        takeExactly(this.#values!, new Uint8Array(typed.buffer, typed.byteOffset + values * width, defined * width), 0, defined * width);
      }
      values += defined;
      row += k;
      this.#pageRows -= k;
    }
    if (present === undefined) return out;
    const spread = new Array<unknown>(rows);
    for (let r = 0, v = 0; r < rows; r++) spread[r] = present[r] === 1 ? out[v++] : null;
    return spread as DecodedArray;
  }

  /** Passes over the next `rows` rows; whole pages are skipped without being read. */
  skip(rows: number): void {
    while (rows > 0) {
      if (this.#pageRows === 0) {
        this.#nextHeader();
        const header = this.#header!;
        if (header.numValues <= rows) {
          this.buffers.chunk.skip(this.#pageEnd - this.buffers.chunk.position);
          rows -= header.numValues;
          continue;
        }
        this.#openPage();
      }
      const k = Math.min(rows, this.#pageRows, 4096);
      this.read(k);
      rows -= k;
    }
  }

  #readStrings(out: string[], at: number, count: number): void {
    const bytes = this.#values!;
    for (let i = 0; i < count; i++) {
      // In place when the whole value is at hand, as nearly all are.
      const n = bytes.ready();
      if (n >= 4) {
        const b = bytes.bytes;
        const p = bytes.at;
        const length = int32At(b, p);
        if (length >= 0 && 4 + length <= n) {
          out[at + i] = utf8.decode(b.subarray(p + 4, p + 4 + length));
          bytes.skip(4 + length);
          continue;
        }
      }
      takeExactly(bytes, this.#scratch, 0, 4);
      const length = int32At(this.#scratch, 0);
      if (length < 0 || length > bytes.left) throw new Error(`a string of ${length >>> 0} bytes runs past its page`);
      if (length > this.#scratch.length) this.#scratch = new Uint8Array(Math.max(length, this.#scratch.length * 2));
      takeExactly(bytes, this.#scratch, 0, length);
      out[at + i] = utf8.decode(this.#scratch.subarray(0, length));
    }
  }

  /** Reads the next data page's header (index pages are passed over). */
  #nextHeader(): void {
    const chunk = this.buffers.chunk;
    if (this.#header !== undefined) chunk.skip(this.#pageEnd - chunk.position);
    this.#header = undefined;
    this.#values = undefined;
    this.#levels = undefined;
    for (;;) {
      if (chunk.remaining === 0) throw new Error('a column chunk ends before the row group does');
      let want = 64;
      let parsed: ReturnType<typeof readPageHeader> | undefined;
      while (parsed === undefined) {
        chunk.fill(want);
        try {
          parsed = readPageHeader(chunk.buf, chunk.pos, chunk.end);
        } catch (error) {
          if (!(error instanceof ShortHeader) || chunk.available >= chunk.remaining) throw error;
          want = chunk.available * 2;
        }
      }
      const { header, length } = parsed;
      chunk.skip(length);
      this.#pageEnd = chunk.position + header.compressedSize;
      if (header.type === PageType.INDEX) {
        chunk.skip(header.compressedSize);
        continue;
      }
      if (header.type === PageType.DICTIONARY) throw new StreamUnsupported('a dictionary page');
      if (header.type !== PageType.DATA && header.type !== PageType.DATA_V2) throw new Error(`unknown page type ${header.type}`);
      if (header.encoding !== Encoding.PLAIN) throw new StreamUnsupported(`a page of encoding ${header.encoding}`);
      if (this.#pageEnd > chunk.limit) throw new Error('a page runs past its column chunk');
      this.#header = header;
      return;
    }
  }

  /** Opens the values (and levels) of the page whose header was just read. */
  #openPage(): void {
    const header = this.#header!;
    const chunk = this.buffers.chunk;
    let levelBytes: Uint8Array | undefined;
    if (header.type === PageType.DATA_V2) {
      if (header.repetitionBytes > 0) throw new Error('repetition levels in a flat column');
      if (header.definitionBytes > 0) {
        chunk.fill(header.definitionBytes);
        levelBytes = chunk.buf.slice(chunk.pos, chunk.pos + header.definitionBytes);
        chunk.skip(header.definitionBytes);
      }
      const compressedValues = header.compressedSize - header.definitionBytes;
      const plainValues = header.uncompressedSize - header.definitionBytes;
      this.#values = this.codec === 'SNAPPY' && header.compressed
        ? new SnappyPageBytes(chunk, this.buffers.ring, compressedValues, plainValues)
        : new RawPageBytes(chunk, compressedValues);
    } else {
      this.#values = this.codec === 'SNAPPY'
        ? new SnappyPageBytes(chunk, this.buffers.ring, header.compressedSize, header.uncompressedSize)
        : new RawPageBytes(chunk, header.compressedSize);
      if (this.optional) {
        if (header.definitionEncoding !== Encoding.RLE) throw new StreamUnsupported(`definition levels of encoding ${header.definitionEncoding}`);
        takeExactly(this.#values, this.#scratch, 0, 4);
        const length = int32At(this.#scratch, 0) >>> 0;
        if (length > this.#values.left) throw new Error('definition levels run past their page');
        levelBytes = new Uint8Array(length);
        takeExactly(this.#values, levelBytes, 0, length);
      }
    }
    if (this.optional) {
      this.#levels = new Uint8Array(header.numValues);
      if (levelBytes === undefined) this.#levels.fill(1);
      else decodeLevels(levelBytes, header.numValues, this.#levels);
      this.#levelAt = 0;
    } else if (levelBytes !== undefined) {
      throw new Error('definition levels in a REQUIRED column');
    }
    this.#pageRows = header.numValues;
  }

  #nextPage(): void {
    this.#nextHeader();
    this.#openPage();
  }
}

function newTyped(kind: Exclude<ColumnKind, 'string'>, rows: number): DecodedArray {
  switch (kind) {
    case 'float':
      return new Float32Array(rows);
    case 'double':
      return new Float64Array(rows);
    case 'int32':
      return new Int32Array(rows);
    case 'int64':
      return new BigInt64Array(rows);
  }
}
