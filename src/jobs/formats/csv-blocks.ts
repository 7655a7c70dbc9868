/**
 * The fast CSV reader: splits the bytes into rows and cells itself and parses numeric cells into a
 * Float64Array as it goes, so a row of numbers costs neither a string per cell nor a fields object
 * (csv-parse builds both, and that was most of a CSV job's time). It yields blocks of CellRecords;
 * the mapper reads their numbers directly and everything else (the fields object, a cell's text)
 * is made only when asked for.
 *
 * It reproduces csv-parse's reading (with the options csv-reader.ts uses) for the same regular
 * subset of CSV that CsvRecordScanner covers: quotes only around whole fields, `""` inside them,
 * one line ending (LF or CRLF, as csv-parse settled it on the header), empty lines skipped, a row
 * whose field count differs from the header's made an error record with csv-parse's message. At
 * the first row outside that subset it hands the rest of the range to csv-reader.ts, which seeks
 * to that row's first byte and goes on with csv-parse itself, so odd files read exactly as before.
 */
import { createReadStream } from 'node:fs';
import { CellRecord, attachCells, rowLayout, type RowLayout } from './row-cells.js';
import { readCsv, readCsvHeader } from './csv-reader.js';
import { decimalAt, parseNumber } from './number-text.js';
import { idOf, inputError, rowRange } from './reader-common.js';
import type { InputRecord, ReaderOptions } from './types.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/** Read size: a read's rows are split at once, so this bounds the records held in memory. */
const READ_BYTES = 256 * 1024;
/** Most rows per block: a block's arrays are rows × columns, so this bounds them. */
const BLOCK_ROWS = 512;
/** The fallback's records are handed on in groups of this many. */
const FALLBACK_GROUP = 256;
/** As csv-parse's max_record_size in csv-reader.ts: a longer row is left to csv-parse, which refuses it. */
const MAX_ROW_BYTES = 64 * 1024 * 1024;

/** Rows of one read buffer: where each cell is and, for cells that are plain decimals, their value. */
class CsvBlock {
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** The cell's value when it is a plain decimal (see decimalAt), else NaN. */
  readonly numbers: Float64Array;
  /** 1 for a quoted cell (its text has `""` to unescape). */
  readonly quoted: Uint8Array;
  /** Rows complete in the block; the row being parsed writes the slot after them. */
  rows = 0;

  constructor(
    readonly bytes: Buffer,
    readonly columns: number,
    readonly capacity: number,
    readonly header: readonly string[],
    readonly layout: RowLayout,
    readonly safeHeader: boolean,
  ) {
    const cells = capacity * columns;
    this.starts = new Int32Array(cells);
    this.ends = new Int32Array(cells);
    this.numbers = new Float64Array(cells);
    this.quoted = new Uint8Array(cells);
  }

  text(cell: number): string {
    const text = this.bytes.toString('utf8', this.starts[cell]!, this.ends[cell]!);
    return this.quoted[cell] === 1 ? text.replaceAll('""', '"') : text;
  }
}

class CsvRecord extends CellRecord {
  constructor(
    index: number,
    id: string,
    private readonly block: CsvBlock,
    private readonly row: number,
  ) {
    super(index, id);
  }

  get layout(): RowLayout {
    return this.block.layout;
  }

  readFloats(positions: Int32Array, out: Float32Array | Float64Array, at: number): boolean {
    const block = this.block;
    const numbers = block.numbers;
    const base = this.row * block.columns;
    for (let f = 0; f < positions.length; f++) {
      const position = positions[f]!;
      if (position < 0) return false;
      let value = numbers[base + position]!;
      // Not a plain decimal: the general rule decides (e.g. " 1.5", "0x10", "1e400").
      if (value !== value) value = parseNumber(block.text(base + position));
      if (!Number.isFinite(value)) return false;
      out[at + f] = value;
    }
    return true;
  }

  protected buildFields(): Record<string, unknown> {
    const { header, columns, layout, safeHeader } = this.block;
    const base = this.row * columns;
    const values: string[] = new Array(columns);
    for (let c = 0; c < columns; c++) values[c] = this.block.text(base + c);
    const fields: Record<string, unknown> = {};
    attachCells(fields, layout, values);
    if (safeHeader) {
      for (let c = 0; c < columns; c++) fields[header[c]!] = values[c];
    } else {
      // A column named "__proto__" must become a property, not the object's prototype.
      for (let c = 0; c < columns; c++) Object.defineProperty(fields, header[c]!, { value: values[c], enumerable: true, writable: true, configurable: true });
    }
    return fields;
  }
}

/** What parsing one row gave. */
const enum Split {
  /** The row is complete: `next` is where the following one starts. */
  Row,
  /** The buffer ends inside the row: more bytes are needed. */
  More,
  /** The row is outside the subset read here: csv-parse must take over from its start. */
  Irregular,
}

/** 10^0 … 10^22, for the plain decimals parsed inline. */
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
const MINUS = 0x2d;
const PLUS = 0x2b;
const POINT = 0x2e;

/**
 * Splits one row into the block's next slot, parsing each unquoted cell as a plain decimal in the
 * same pass over its bytes (digits with an optional sign and point: what number columns hold).
 * A cell that turns out to be anything else is scanned to its end and given to decimalAt, which
 * takes exponents too, or declines.
 */
class RowParser {
  /** Cells of the row parsed last (may exceed the block's columns: only those are stored). */
  cells = 0;
  next = 0;

  constructor(private readonly crlf: boolean) {}

  parse(buf: Buffer, start: number, n: number, final: boolean, block: CsvBlock): Split {
    const columns = block.columns;
    const base = block.rows * columns;
    const starts = block.starts;
    const ends = block.ends;
    const numbers = block.numbers;
    const quoted = block.quoted;
    let cells = 0;
    let p = start;
    for (;;) {
      const cell = base + cells;
      const store = cells < columns;
      cells++;
      let b = p < n ? buf[p]! : -1;
      if (b === QUOTE) {
        // A quoted cell: up to the quote that is not doubled.
        let q = p + 1;
        for (;;) {
          q = buf.indexOf(QUOTE, q);
          if (q < 0 || q + 1 >= n) {
            if (!final) return Split.More;
            if (q < 0) return Split.Irregular; // never closed: csv-parse reports it
            break;
          }
          if (buf[q + 1] !== QUOTE) break;
          q += 2;
        }
        if (store) {
          starts[cell] = p + 1;
          ends[cell] = q;
          quoted[cell] = 1;
          numbers[cell] = NaN;
        }
        p = q + 1;
        if (p >= n) {
          // (final: the closing quote ends the file)
          this.cells = cells;
          this.next = n;
          return Split.Row;
        }
        const after = buf[p];
        if (after === COMMA) {
          p++;
          continue;
        }
        if (!this.crlf && after === LF) {
          this.cells = cells;
          this.next = p + 1;
          return Split.Row;
        }
        if (this.crlf && after === CR) {
          if (p + 1 >= n) return final ? Split.Irregular : Split.More;
          if (buf[p + 1] === LF) {
            this.cells = cells;
            this.next = p + 2;
            return Split.Row;
          }
        }
        return Split.Irregular;
      }
      // An unquoted cell, parsed as a plain decimal while it is one.
      const from = p;
      let negative = false;
      if (b === MINUS || b === PLUS) {
        negative = b === MINUS;
        b = ++p < n ? buf[p]! : -1;
      }
      let mantissa = 0;
      let digits = 0;
      let d = b - 0x30;
      while (d >= 0 && d <= 9) {
        mantissa = mantissa * 10 + d;
        digits++;
        b = ++p < n ? buf[p]! : -1;
        d = b - 0x30;
      }
      let scale = 0;
      if (b === POINT) {
        b = ++p < n ? buf[p]! : -1;
        d = b - 0x30;
        while (d >= 0 && d <= 9) {
          mantissa = mantissa * 10 + d;
          scale++;
          b = ++p < n ? buf[p]! : -1;
          d = b - 0x30;
        }
      }
      let value: number;
      if (b === COMMA || b === LF || b === -1) {
        // Exact when the digits fit a double's integer range and the power of ten is exact.
        if (digits + scale === 0 || mantissa > Number.MAX_SAFE_INTEGER || scale > 22) value = NaN;
        else value = scale === 0 ? mantissa : mantissa / POWERS_OF_TEN[scale]!;
        if (negative) value = -value;
      } else {
        // Not a plain decimal after all: find the cell's end.
        while (b !== COMMA && b !== LF && b !== QUOTE && b !== -1) b = ++p < n ? buf[p]! : -1;
        value = NaN;
      }
      if (b === -1) {
        if (!final) return Split.More;
        // The last row of the file without a line ending. (CRLF: a CR at the very end is content.)
        if (store) {
          starts[cell] = from;
          ends[cell] = n;
          quoted[cell] = 0;
          numbers[cell] = value === value ? value : decimalAt(buf, from, n);
        }
        this.cells = cells;
        this.next = n;
        return Split.Row;
      }
      if (b === QUOTE) return Split.Irregular;
      let end = p;
      if (b === LF && this.crlf) {
        // A lone LF is cell content to csv-parse once CRLF was settled on: left to it.
        if (p === from || buf[p - 1] !== CR) return Split.Irregular;
        end = p - 1;
        value = NaN;
      }
      if (store) {
        starts[cell] = from;
        ends[cell] = end;
        quoted[cell] = 0;
        numbers[cell] = value === value ? value : decimalAt(buf, from, end);
      }
      p++;
      if (b === COMMA) continue;
      this.cells = cells;
      this.next = p;
      return Split.Row;
    }
  }
}

export async function* readCsvBlocks(path: string, options: ReaderOptions): AsyncGenerator<InputRecord[]> {
  const { startRow, endRow, startByte } = rowRange(options);
  if (startRow >= endRow) return;
  const head = await readCsvHeader(path);
  const header = head.header;
  if (header === undefined) return;
  let from = head.end;
  let index = 0;
  // An offset inside the header means "from the first row": numbering starts at 0 there.
  if (startByte !== undefined && startByte > head.end) {
    from = startByte;
    index = startRow;
  }
  const ending = head.lineEnding.map((b) => b.toString('hex')).join('|');
  // The header was the file's only line: no rows.
  if (ending === '') return;
  /** csv-parse from `offset`, where row `row` starts, to the end of the range. */
  const fallback = async function* (offset: number, row: number): AsyncGenerator<InputRecord[]> {
    let group: InputRecord[] = [];
    const rest: ReaderOptions = { ...options, startRow: row, startByte: offset };
    if (Number.isFinite(endRow)) rest.endRow = endRow;
    for await (const record of readCsv(path, rest)) {
      if (record.index < startRow) continue;
      group.push(record);
      if (group.length === FALLBACK_GROUP) {
        yield group;
        group = [];
      }
    }
    if (group.length > 0) yield group;
  };
  if (ending !== '0a' && ending !== '0d0a') {
    // CR line endings and stranger: csv-parse's own business.
    yield* fallback(from, index);
    return;
  }
  const crlf = ending === '0d0a';
  const columns = header.length;
  const layout = rowLayout(header);
  const safeHeader = !header.includes('__proto__');
  const idIndex = options.idColumn === undefined ? -1 : header.indexOf(options.idColumn);
  const parser = new RowParser(crlf);
  /** Bytes per row, a running estimate. */
  let rowBytes = 16 * columns;
  const stream = createReadStream(path, { start: from, highWaterMark: READ_BYTES });
  /** File offset of buf[0]. */
  let base = from;
  let carry: Buffer | undefined;
  let handOver: number | undefined;
  let done = false;

  /** Splits the rows of `buf`; returns the records and where the unfinished row starts (or -1). */
  const take = (buf: Buffer, final: boolean): { records: InputRecord[]; rest: number } => {
    const records: InputRecord[] = [];
    const n = buf.length;
    // Sized from the rows seen so far, so a block is neither mostly empty nor one of many.
    const capacity = Math.min(BLOCK_ROWS, Math.ceil(n / rowBytes) + 8);
    let block = new CsvBlock(buf, columns, capacity, header, layout, safeHeader);
    let p = 0;
    while (p < n) {
      if (index >= endRow) {
        done = true;
        break;
      }
      // Empty lines are not rows.
      if (!crlf && buf[p] === LF) {
        p++;
        continue;
      }
      if (crlf && buf[p] === CR) {
        if (p + 1 >= n && !final) return { records, rest: p };
        if (buf[p + 1] === LF) {
          p += 2;
          continue;
        }
      }
      if (block.rows === block.capacity) block = new CsvBlock(buf, columns, capacity, header, layout, safeHeader);
      const split = parser.parse(buf, p, n, final, block);
      if (split === Split.More) return { records, rest: p };
      if (split === Split.Irregular) {
        handOver = base + p;
        done = true;
        break;
      }
      rowBytes = rowBytes * 0.9 + (parser.next - p) * 0.1;
      const rowIndex = index++;
      p = parser.next;
      if (rowIndex < startRow) continue;
      const cells = parser.cells;
      const at = block.rows * columns;
      if (cells !== columns) {
        // (The id cell's place was written if the row reached it.)
        const id = idIndex >= 0 && idIndex < cells ? idOf(block.text(at + idIndex), rowIndex) : String(rowIndex);
        records.push({ index: rowIndex, id, error: `row has ${cells} fields, expected ${columns} (one per header column)` });
        continue;
      }
      const row = block.rows++;
      const id = idIndex >= 0 ? idOf(block.text(at + idIndex), rowIndex) : String(rowIndex);
      records.push(new CsvRecord(rowIndex, id, block, row));
    }
    return { records, rest: -1 };
  };

  try {
    for await (const chunk of stream) {
      const buf = carry === undefined ? (chunk as Buffer) : Buffer.concat([carry, chunk as Buffer]);
      carry = undefined;
      const { records, rest } = take(buf, false);
      if (records.length > 0) yield records;
      if (done) break;
      if (rest >= 0) {
        if (buf.length - rest > MAX_ROW_BYTES) {
          handOver = base + rest;
          break;
        }
        // Copied: the stream's chunk would otherwise stay alive with it.
        carry = Buffer.from(buf.subarray(rest));
        base += rest;
      } else {
        base += buf.length;
      }
    }
    if (!done && handOver === undefined && carry !== undefined) {
      const { records } = take(carry, true);
      if (records.length > 0) yield records;
    }
  } catch (error) {
    throw inputError(path, error);
  } finally {
    stream.destroy();
  }
  if (handOver !== undefined) yield* fallback(handOver, index);
}
