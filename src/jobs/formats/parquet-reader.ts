/**
 * Parquet input. A ParquetSource opens the file once for a whole job and hands out rows in blocks
 * of CellRecords, each block holding its own arrays of the block's rows, one per column.
 *
 * Files of flat PLAIN-encoded columns (what hyparquet-writer, and pyarrow or Spark with dictionaries
 * off, write for real-valued features) are read as streams (parquet-column-stream.ts): each column
 * of the row group is decoded front to back, a block at a time, through a read buffer and a Snappy
 * ring, so memory is a block's rows plus a fixed ~192 KiB per column, whatever the size of the
 * row groups and pages. Writers often make a column chunk one page (hyparquet-writer's 1 MB pages
 * hold 250k FLOAT values), and pages decoded whole had to be held until their last row was read:
 * a 100k-row group of 256 FLOAT columns was 100 MB of pages held for the whole group.
 *
 * Files the stream does not read (dictionary pages, other encodings or codecs, nested or converted
 * columns, very wide files) are decoded by hyparquet, a window at a time: a window of rows (from
 * where reading is, up to the row group's end, bounded by WINDOW_BYTES of decoded data) as one
 * decoded array per column, which every partition read inside it only slices, so each page is
 * decompressed once, not once per partition. Past WINDOW_BYTES, a window is a part of the group
 * and pages it cuts through are decoded once per window they touch. Blocks copy their rows out of
 * the window, so records still referenced by batches in flight never keep a whole window alive; and
 * since nothing references a window once the next one is asked for, the next one is decompressed
 * into the pages of the last (PagePool), so a file of many row groups does not peak at two windows.
 */
import { parquetScan, parquetSchema, type DecodedArray, type FileMetaData } from 'hyparquet';
import { ChunkBytes } from './chunk-bytes.js';
import { SNAPPY_RING_BYTES, StreamUnsupported } from './page-bytes.js';
import { chunkRange, chunkStreamable, columnKind, ColumnStream, type ColumnKind } from './parquet-column-stream.js';
import { openParquetFile, parquetInputError, type ParquetFile } from './parquet-file.js';
import { idOf, rowRange, type RowRange } from './reader-common.js';
import { CellRecord, attachCells, rowLayout, type RowLayout } from './row-cells.js';
import { snappyDecompress } from './snappy.js';
import type { InputRecord, ReaderOptions } from './types.js';

/** Rows per block of records. */
const BLOCK_ROWS = 4096;
/**
 * Rows of a window copied out before its end so the next window decodes while they are inferred
 * (see blocks()); ~16 MB for 256 FLOAT columns, about half a second of inference for a small model.
 */
const DEFAULT_PREFETCH_ROWS = 16_384;
/** Largest decoded window (estimated from the footer's uncompressed sizes). */
const WINDOW_BYTES = 192 * 1024 * 1024;
/** A window holds at least this many rows, however wide they are. */
const MIN_WINDOW_ROWS = 4096;
/** Each streamed column's read buffer (half as many reads as 32 KiB: the reader's time 11.7 s → 10.5 s over 1M rows). */
const STREAM_READ_BYTES = 64 * 1024;
/** Columns decoded per turn of the event loop. */
const COLUMNS_PER_TURN = 32;
/** Files whose streams' buffers would take more (about 500 columns) are read a window at a time. */
const STREAM_BUFFER_BYTES = 96 * 1024 * 1024;

/** A row group being streamed: one stream per column, all at row `row`. */
interface GroupStream {
  group: number;
  row: number;
  columns: ColumnStream[];
}

interface GroupSpan {
  start: number;
  end: number;
  /** Decoded bytes per row, estimated from the footer. */
  rowBytes: number;
}

function groupSpans(metadata: FileMetaData): GroupSpan[] {
  let start = 0;
  return metadata.row_groups.map((group) => {
    const rows = Number(group.num_rows);
    const end = start + rows;
    const bytes = group.columns.reduce((sum, column) => sum + Number(column.meta_data?.total_uncompressed_size ?? 0n), 0);
    const span = { start, end, rowBytes: rows > 0 ? bytes / rows : 0 };
    start = end;
    return span;
  });
}

/** Decoded rows [start, end) of every column. */
interface Window {
  start: number;
  end: number;
  columns: DecodedArray[];
}

/** The rows of one block: a copy of each column's slice. */
class ParquetBlock {
  constructor(
    readonly columns: readonly DecodedArray[],
    readonly names: readonly string[],
    readonly layout: RowLayout,
    readonly safeNames: boolean,
  ) {}
}

class ParquetRecord extends CellRecord {
  constructor(
    index: number,
    id: string,
    readonly block: ParquetBlock,
    readonly row: number,
  ) {
    super(index, id);
  }

  get layout(): RowLayout {
    return this.block.layout;
  }

  readFloats(positions: Int32Array, out: Float32Array | Float64Array, at: number): boolean {
    const columns = this.block.columns;
    const row = this.row;
    for (let f = 0; f < positions.length; f++) {
      const position = positions[f]!;
      if (position < 0) return false;
      const value: unknown = columns[position]![row];
      if (typeof value !== 'number' || !Number.isFinite(value)) return false;
      out[at + f] = value;
    }
    return true;
  }

  override readFloatRows(records: readonly InputRecord[], positions: Int32Array, out: Float32Array | Float64Array, stride: number): Uint8Array | undefined {
    const block = this.block;
    const rows = new Int32Array(records.length);
    for (let r = 0; r < records.length; r++) {
      const record = records[r];
      if (!(record instanceof ParquetRecord) || record.block !== block) return undefined;
      rows[r] = record.row;
    }
    for (let f = 0; f < positions.length; f++) if (positions[f]! < 0) return undefined;
    const filled = new Uint8Array(records.length).fill(1);
    let f = 0;
    if (out instanceof Float32Array && isRun(rows)) {
      // FLOAT columns into an FP32 batch, eight at a time (the usual case: features as columns);
      // a group of eight holding another kind goes column by column, and the next group is tried.
      for (; f + 8 <= positions.length; f += 8) {
        const eight = floatColumns(block.columns, positions, f);
        if (eight !== undefined) gatherEight(eight, rows[0]!, rows.length, out, f, stride, filled);
        else for (let k = f; k < f + 8; k++) gatherColumn(block.columns[positions[k]!]!, rows, out, k, stride, filled);
      }
    }
    for (; f < positions.length; f++) gatherColumn(block.columns[positions[f]!]!, rows, out, f, stride, filled);
    return filled;
  }

  protected buildFields(): Record<string, unknown> {
    const { columns, names, layout, safeNames } = this.block;
    const cells: unknown[] = new Array(columns.length);
    for (let c = 0; c < columns.length; c++) cells[c] = columns[c]![this.row];
    const fields: Record<string, unknown> = {};
    if (safeNames) {
      for (let c = 0; c < columns.length; c++) fields[names[c]!] = cells[c];
    } else {
      // A column named "__proto__" must become a property, not the record's prototype.
      for (let c = 0; c < columns.length; c++) {
        Object.defineProperty(fields, names[c]!, { value: cells[c], enumerable: true, writable: true, configurable: true });
      }
    }
    attachCells(fields, layout, cells);
    return fields;
  }
}

/** One column's values of `rows` into out[r * stride + f], by the column's kind. */
function gatherColumn(column: DecodedArray, rows: Int32Array, out: Float32Array | Float64Array, f: number, stride: number, filled: Uint8Array): void {
  if (column instanceof Float32Array || column instanceof Float64Array) gatherFloats(column, rows, out, f, stride, filled);
  else gatherValues(column, rows, out, f, stride, filled);
}

/** Column values of `rows` into out[r * stride + f]; a non-finite value clears its row's flag. */
function gatherFloats(column: Float32Array | Float64Array, rows: Int32Array, out: Float32Array | Float64Array, f: number, stride: number, filled: Uint8Array): void {
  for (let r = 0, at = f; r < rows.length; r++, at += stride) {
    const value = column[rows[r]!]!;
    out[at] = value;
    // NaN and ±Infinity: value - value is NaN.
    if (value - value !== 0) filled[r] = 0;
  }
}

/** Rows r0, r0 + 1, …: a batch from one block, as the engine cuts them. */
function isRun(rows: Int32Array): boolean {
  const first = rows[0]!;
  for (let r = 1; r < rows.length; r++) if (rows[r] !== first + r) return false;
  return true;
}

/** The columns at positions[f…f+7] when all eight are Float32Arrays. */
function floatColumns(columns: readonly DecodedArray[], positions: Int32Array, f: number): Float32Array[] | undefined {
  const eight: Float32Array[] = [];
  for (let k = 0; k < 8; k++) {
    const column = columns[positions[f + k]!];
    if (!(column instanceof Float32Array)) return undefined;
    eight.push(column);
  }
  return eight;
}

/**
 * gatherFloats for eight columns and the rows start…start+count-1. Each row's eight values go to
 * adjacent slots in one pass: column at a time, every value was a store a whole row apart, and
 * this runs over twice as fast (it is most of mapping a wide Parquet batch).
 */
function gatherEight(columns: readonly Float32Array[], start: number, count: number, out: Float32Array, f: number, stride: number, filled: Uint8Array): void {
  const c0 = columns[0]!, c1 = columns[1]!, c2 = columns[2]!, c3 = columns[3]!;
  const c4 = columns[4]!, c5 = columns[5]!, c6 = columns[6]!, c7 = columns[7]!;
  for (let r = 0, i = start, at = f; r < count; r++, i++, at += stride) {
    const v0 = c0[i]!, v1 = c1[i]!, v2 = c2[i]!, v3 = c3[i]!, v4 = c4[i]!, v5 = c5[i]!, v6 = c6[i]!, v7 = c7[i]!;
    out[at] = v0;
    out[at + 1] = v1;
    out[at + 2] = v2;
    out[at + 3] = v3;
    out[at + 4] = v4;
    out[at + 5] = v5;
    out[at + 6] = v6;
    out[at + 7] = v7;
    // Any NaN or ±Infinity makes the sum NaN.
    if (v0 - v0 + (v1 - v1) + (v2 - v2) + (v3 - v3) + (v4 - v4) + (v5 - v5) + (v6 - v6) + (v7 - v7) !== 0) filled[r] = 0;
  }
}

/** The same for a column of another kind: only plain finite numbers are taken. */
function gatherValues(column: DecodedArray, rows: Int32Array, out: Float32Array | Float64Array, f: number, stride: number, filled: Uint8Array): void {
  for (let r = 0, at = f; r < rows.length; r++, at += stride) {
    const value: unknown = column[rows[r]!];
    if (typeof value === 'number' && Number.isFinite(value)) out[at] = value;
    else filled[r] = 0;
  }
}

/**
 * Page buffers handed to hyparquet's decompressor for one window, and those of the window before,
 * free again once it was let go, to be handed out again.
 */
class PagePool {
  #inUse: ArrayBuffer[] = [];
  #spare: ArrayBuffer[] = [];

  /** The current window's pages become spares (nothing may reference that window any more). */
  recycle(): void {
    this.#spare = this.#inUse;
    this.#inUse = [];
  }

  /** Spares not taken by the window just decoded go to the garbage collector. */
  trim(): void {
    this.#spare = [];
  }

  /** Room for a page of `length` bytes: a spare of that size (or larger), else a new buffer. */
  page(length: number): Uint8Array {
    let best = -1;
    for (let i = 0; i < this.#spare.length; i++) {
      const size = this.#spare[i]!.byteLength;
      if (size >= length && (best < 0 || size < this.#spare[best]!.byteLength)) best = i;
      if (size === length) break;
    }
    const buffer = best >= 0 ? this.#spare.splice(best, 1)[0]! : new ArrayBuffer(length);
    this.#inUse.push(buffer);
    return new Uint8Array(buffer, 0, length);
  }
}

function copyRows(data: DecodedArray, from: number, to: number): DecodedArray {
  return data.slice(from, to) as DecodedArray;
}

/**
 * `work` on each column, a few columns per turn of the event loop, so that batch results (and
 * online requests in a server) are handled while a wide block decodes.
 */
async function inTurns<T>(columns: readonly ColumnStream[], work: (column: ColumnStream) => T): Promise<T[]> {
  const results: T[] = [];
  for (let c = 0; c < columns.length; c += COLUMNS_PER_TURN) {
    if (c > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const column of columns.slice(c, c + COLUMNS_PER_TURN)) results.push(work(column));
  }
  return results;
}

/** Rows [from, to) of a block's column: a view when typed, else a copy. */
function sliceRows(data: DecodedArray, from: number, to: number): DecodedArray {
  return (Array.isArray(data) ? data.slice(from, to) : data.subarray(from, to)) as DecodedArray;
}

/** Every top-level column's kind for streaming, or undefined when one cannot be streamed. */
function streamColumns(metadata: FileMetaData): Array<{ kind: ColumnKind; optional: boolean }> | undefined {
  const children = parquetSchema(metadata).children;
  if (children.length * (STREAM_READ_BYTES + SNAPPY_RING_BYTES) > STREAM_BUFFER_BYTES) return undefined;
  const columns: Array<{ kind: ColumnKind; optional: boolean }> = [];
  for (const child of children) {
    const kind = child.children.length === 0 ? columnKind(child.element) : undefined;
    if (kind === undefined) return undefined;
    // A leaf without a repetition type has definition levels, as hyparquet reads it.
    columns.push({ kind, optional: child.element.repetition_type !== 'REQUIRED' });
  }
  return columns;
}

export interface ParquetSourceOptions {
  /** Largest decoded window, estimated from the footer (default 192 MiB); tests make it small. */
  windowBytes?: number;
  /** Rows copied out of a window before its end so that the next one decodes meanwhile (default 16,384). */
  prefetchRows?: number;
  /** Whether columns that can be streamed are (default true); false reads every group by windows. */
  stream?: boolean;
}

/** A Parquet file open for reading row ranges in ascending order (a job's partitions). */
export class ParquetSource {
  readonly #path: string;
  readonly #file: ParquetFile;
  readonly #names: string[];
  readonly #layout: RowLayout;
  readonly #safeNames: boolean;
  readonly #spans: GroupSpan[];
  #window: Window | undefined;
  #loading: Promise<void> = Promise.resolve();
  readonly #pages = new PagePool();
  readonly #windowBytes: number;
  readonly #prefetchRows: number;
  /** Each column's kind and nullability when every column can be streamed (else undefined). */
  readonly #streamColumns: Array<{ kind: ColumnKind; optional: boolean }> | undefined;
  /** Per row group: read as streams (false from the start, or once a page turned out not to suit). */
  readonly #streamGroups: boolean[];
  #stream: GroupStream | undefined;
  /** A block being decoded (or decoded) before anyone asked for it. */
  #ahead: { group: number; start: number; stop: number; columns: Promise<DecodedArray[] | undefined> } | undefined;
  /** Per column: the read buffer and Snappy ring every group's stream of it reuses. */
  #streamBuffers: Array<{ read: Uint8Array; ring: Uint8Array | undefined }> = [];

  private constructor(path: string, file: ParquetFile, options: ParquetSourceOptions) {
    this.#path = path;
    this.#file = file;
    this.#windowBytes = options.windowBytes ?? WINDOW_BYTES;
    this.#prefetchRows = options.prefetchRows ?? DEFAULT_PREFETCH_ROWS;
    this.#names = parquetSchema(file.metadata).children.map((child) => child.element.name);
    this.#layout = rowLayout(this.#names);
    this.#safeNames = !this.#names.includes('__proto__');
    this.#spans = groupSpans(file.metadata);
    this.#streamColumns = options.stream === false ? undefined : streamColumns(file.metadata);
    this.#streamGroups = file.metadata.row_groups.map(
      (group) => this.#streamColumns !== undefined && group.columns.length === this.#names.length && group.columns.every(
        (chunk, c) => chunk.meta_data?.path_in_schema.length === 1 && chunk.meta_data.path_in_schema[0] === this.#names[c] && chunkStreamable(chunk),
      ),
    );
  }

  static async open(path: string, options: ParquetSourceOptions = {}): Promise<ParquetSource> {
    return new ParquetSource(path, await openParquetFile(path), options);
  }

  /** Whether some row group is read as streams (the others a window at a time). */
  get streaming(): boolean {
    return this.#streamGroups.includes(true);
  }

  get rows(): number {
    return Number(this.#file.metadata.num_rows);
  }

  close(): Promise<void> {
    this.#stream = undefined;
    this.#ahead = undefined;
    this.#streamBuffers = [];
    this.#window = undefined;
    this.#pages.recycle();
    this.#pages.trim();
    return this.#file.close();
  }

  /**
   * Records of rows [range.startRow, range.endRow), in blocks.
   *
   * Streamed groups decode one block ahead of the reader, so that the next block is ready when
   * this one has been mapped and sent: within the group, past the end of the range too, since a
   * job's next partition starts where this one ends (a block that is not asked for is dropped).
   *
   * Decoding a window takes a while (a row group of 256 FLOAT columns: about a second), and the
   * model would idle through it once the rows in flight are done. So when this range reads a window
   * to its end, the window's last rows (up to prefetchRows) are copied out first, the window is let
   * go, and the next one starts decoding while those rows are inferred. Memory stays one window
   * plus the copied rows; the next window's pages are the old one's.
   */
  async *blocks(range: RowRange, idColumn: string | undefined): AsyncGenerator<InputRecord[]> {
    const end = Math.min(range.endRow, this.rows);
    const idPosition = idColumn === undefined ? -1 : this.#names.indexOf(idColumn);
    for (const [group, span] of this.#spans.entries()) {
      const from = Math.max(span.start, range.startRow);
      const to = Math.min(span.end, end);
      let start = from;
      while (start < to && this.#streamable(group)) {
        const ahead = this.#ahead;
        const stop = ahead !== undefined && ahead.group === group && ahead.start === start ? Math.min(to, ahead.stop) : Math.min(to, start + BLOCK_ROWS);
        const columns = await this.#streamedRows(group, start, stop);
        // Not streamable after all: the rest of the group is read a window at a time.
        if (columns === undefined) break;
        // The next block decodes while this one is mapped and inferred (past this range too:
        // the next partition usually starts where this one ends).
        if (stop < span.end && this.#ahead === undefined) this.#readAhead(group, stop, Math.min(span.end, stop + BLOCK_ROWS));
        yield this.#blockOf(columns, start, idPosition);
        start = stop;
      }
      while (start < to) {
        const stop = Math.min(to, start + BLOCK_ROWS);
        const window = await this.#windowFor(span, start, stop);
        if (window.end - start <= this.#prefetchRows && to >= window.end && window.end < this.rows) {
          const rest: InputRecord[][] = [];
          for (let at = start; at < window.end; at += BLOCK_ROWS) rest.push(this.#block(window, at, Math.min(window.end, at + BLOCK_ROWS), idPosition));
          this.#prefetch(window.end);
          yield* rest;
          start = window.end;
        } else {
          yield this.#block(window, start, stop, idPosition);
          start = stop;
        }
      }
    }
  }

  /** Records of rows [start, stop) of `window`, over copies of their slice of each column. */
  #block(window: Window, start: number, stop: number, idPosition: number): InputRecord[] {
    const offset = start - window.start;
    return this.#blockOf(window.columns.map((column) => copyRows(column, offset, offset + stop - start)), start, idPosition);
  }

  /** Records of the rows from `start` held in `columns` (the block's own arrays). */
  #blockOf(columns: DecodedArray[], start: number, idPosition: number): InputRecord[] {
    const block = new ParquetBlock(columns, this.#names, this.#layout, this.#safeNames);
    const ids = idPosition < 0 ? undefined : block.columns[idPosition]!;
    const rows = columns[0]?.length ?? 0;
    const records: InputRecord[] = new Array(rows);
    for (let row = 0; row < rows; row++) {
      const index = start + row;
      records[row] = new ParquetRecord(index, ids === undefined ? String(index) : idOf(ids[row], index), block, row);
    }
    return records;
  }

  #streamable(group: number): boolean {
    return this.#streamGroups[group] === true;
  }

  /** Rows [start, stop) of `group`, from what was read ahead when it starts there, else decoded now. */
  async #streamedRows(group: number, start: number, stop: number): Promise<DecodedArray[] | undefined> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead === undefined || ahead.group !== group || ahead.start !== start || ahead.stop < stop) return this.#streamRows(group, start, stop);
    const columns = await ahead.columns;
    if (columns === undefined || ahead.stop === stop) return columns;
    // A range that ends inside the block read ahead: the rest waits for the next one.
    const taken = stop - start;
    const rest = columns.map((column) => sliceRows(column, taken, column.length));
    this.#ahead = { group, start: stop, stop: ahead.stop, columns: Promise.resolve(rest) };
    return columns.map((column) => sliceRows(column, 0, taken));
  }

  #readAhead(group: number, start: number, stop: number): void {
    const columns = this.#streamRows(group, start, stop);
    // Its failure is reported to the reader that asks for these rows; nobody may (a cancelled job).
    columns.catch(() => undefined);
    this.#ahead = { group, start, stop, columns };
  }

  /**
   * Every column's values of rows [start, stop) of `group`, by its streams; undefined when the
   * group turns out not to be streamable (it is then marked so). One decode at a time, like windows.
   */
  async #streamRows(group: number, start: number, stop: number): Promise<DecodedArray[] | undefined> {
    // Queued behind the decode in progress (set before any await: two readers must not both pass).
    // A window's failure before it was for that window's readers; a stream's concerns only this one.
    const task = this.#loading.then(
      () => this.#streamDecode(group, start, stop),
      () => this.#streamDecode(group, start, stop),
    );
    this.#loading = task.then(() => undefined, () => undefined);
    try {
      return await task;
    } catch (error) {
      if (error instanceof StreamUnsupported) return undefined;
      throw parquetInputError(this.#path, error);
    }
  }

  async #streamDecode(group: number, start: number, stop: number): Promise<DecodedArray[]> {
    try {
      return await this.#streamDecodeOnce(group, start, stop);
    } catch (error) {
      // Its columns stopped wherever each was: no later decode may continue from there. Done here,
      // before the next decode in the queue starts.
      this.#stream = undefined;
      if (error instanceof StreamUnsupported) this.#streamGroups[group] = false;
      throw error;
    }
  }

  async #streamDecodeOnce(group: number, start: number, stop: number): Promise<DecodedArray[]> {
    let stream = this.#stream;
    if (stream === undefined || stream.group !== group || stream.row > start) stream = this.#openStream(group);
    this.#stream = stream;
    const ahead = start - stream.row;
    if (ahead > 0) await inTurns(stream.columns, (column) => column.skip(ahead));
    stream.row = start;
    const rows = stop - start;
    const columns = await inTurns(stream.columns, (column) => column.read(rows));
    stream.row = stop;
    return columns;
  }

  /** Streams of every column of `group`, at its first row. */
  #openStream(group: number): GroupStream {
    const chunks = this.#file.metadata.row_groups[group]!.columns;
    const columns = this.#streamColumns!.map(({ kind, optional }, c) => {
      const chunk = chunks[c]!;
      const codec = chunk.meta_data!.codec === 'SNAPPY' ? 'SNAPPY' : 'UNCOMPRESSED';
      const buffers = (this.#streamBuffers[c] ??= { read: new Uint8Array(STREAM_READ_BYTES), ring: undefined });
      if (codec === 'SNAPPY') buffers.ring ??= new Uint8Array(SNAPPY_RING_BYTES);
      const { start, end } = chunkRange(chunk);
      const bytes = new ChunkBytes(buffers.read, this.#file.readAt, start, end);
      return new ColumnStream(kind, optional, codec, { chunk: bytes, ring: buffers.ring ?? new Uint8Array(0) });
    });
    this.#window = undefined;
    return { group, row: this.#spans[group]!.start, columns };
  }

  /** Starts decoding the window that begins at `row` (not awaited: the next #windowFor waits for it). */
  #prefetch(row: number): void {
    const group = this.#spans.findIndex((s) => s.start <= row && row < s.end);
    // A group read by streams has no window to prepare.
    if (group < 0 || this.#streamable(group)) return;
    const span = this.#spans[group]!;
    const loading = this.#loading.then(
      () => this.#decode(span, row, row + 1).then(() => undefined),
      // The failure before this one was reported to its reader; the next reader decodes afresh.
      () => undefined,
    );
    // A failure is reported to whoever asks for the window next; nobody may ask (a cancelled job).
    loading.catch(() => undefined);
    this.#loading = loading;
  }

  /** The window holding rows [start, stop) of `span`, decoding a new one when needed. */
  async #windowFor(span: GroupSpan, start: number, stop: number): Promise<Window> {
    // One decode at a time: two readers asking for the same rows share it.
    await this.#loading;
    const current = this.#window;
    if (current !== undefined && current.start <= start && stop <= current.end) return current;
    const loading = this.#decode(span, start, stop);
    // Its failure goes to this caller and to later ones through #loading, which is marked handled:
    // there may be no later caller.
    const settled = loading.then(() => undefined);
    settled.catch(() => undefined);
    this.#loading = settled;
    return loading;
  }

  /** Decodes the window of `span` that starts at `start` and holds at least [start, stop). */
  async #decode(span: GroupSpan, start: number, stop: number): Promise<Window> {
    const rows = Math.max(MIN_WINDOW_ROWS, span.rowBytes > 0 ? Math.floor(this.#windowBytes / span.rowBytes) : span.end - start);
    const end = Math.min(span.end, Math.max(stop, start + rows));
    // Let the old window go before the new one is decoded, its pages to be decoded into.
    this.#window = undefined;
    this.#pages.recycle();
    try {
      // A scan of its own per window: a scan keeps what it decoded last (to slice later reads
      // from), which must not outlive the window now that its pages are used again.
      const pages = this.#pages;
      const scan = await parquetScan({
        file: this.#file.buffer,
        metadata: this.#file.metadata,
        useOffsetIndex: true,
        compressors: { SNAPPY: (input, length) => snappyDecompress(input, length, pages.page(length)) },
      });
      const columns: DecodedArray[] = [];
      // Column after column: only one column's compressed bytes are held at a time.
      for (const column of this.#names) columns.push(await scan.readColumn({ column, rowStart: start, rowEnd: end }));
      const loaded: Window = { start, end, columns };
      this.#window = loaded;
      return loaded;
    } catch (error) {
      throw parquetInputError(this.#path, error);
    } finally {
      this.#pages.trim();
    }
  }
}

/** Records of rows [startRow, endRow) of a Parquet file, one by one (the source is opened for this read). */
export async function* readParquet(path: string, options: ReaderOptions): AsyncGenerator<InputRecord> {
  const range = rowRange(options);
  if (range.startRow >= range.endRow) return;
  const source = await ParquetSource.open(path);
  try {
    for await (const block of source.blocks(range, options.idColumn)) {
      for (const record of block) yield (record as ParquetRecord).toPlain();
    }
  } finally {
    await source.close();
  }
}

export async function countParquetRows(path: string): Promise<number> {
  const file = await openParquetFile(path);
  await file.close();
  return Number(file.metadata.num_rows);
}
