/**
 * A side channel from the CSV and Parquet readers to the row mapper. V8 keeps an object with more
 * than about a hundred properties in dictionary mode, where every `fields[name]` is a hash lookup:
 * mapping 256 named columns that way costs more than parsing their numbers. So each record's
 * fields object from those readers also carries, under a non-enumerable symbol (invisible to
 * Object.keys, JSON and deep equality), its row's cells by column position and the column layout
 * shared by every row of the file; the mapper resolves its field names to positions once per
 * layout and reads cells by position. `fields` itself stays a complete plain object; the cells
 * mirror it as read (a caller that rewrites `fields` before mapping should pass a copy, which
 * carries no cells).
 *
 * The CSV and Parquet readers go one step further for the batch engine: their records are
 * CellRecords, which hold only their row's place in a block of rows the reader decoded at once and
 * build the fields object only when someone asks for it. The row mapper reads numeric cells
 * straight from the block (readFloats) and never asks, unless a row needs the general rules (a
 * cell that is not a plain number, a column that is not numeric), so a row of a wide numeric file
 * costs no object of its own beyond the record.
 */
import type { InputRecord } from './types.js';

export const ROW_CELLS: unique symbol = Symbol('modelport.rowCells');

/** The columns of one file, shared by all its records. */
export interface RowLayout {
  /** Column position of each name (the last one when a name repeats, as in `fields`). */
  readonly positions: ReadonlyMap<string, number>;
}

export interface RowCells {
  readonly layout: RowLayout;
  readonly values: ArrayLike<unknown>;
}

export function rowLayout(names: readonly string[]): RowLayout {
  const positions = new Map<string, number>();
  names.forEach((name, i) => positions.set(name, i));
  return { positions };
}

/** Attaches a row's cells to its fields object. */
export function attachCells(fields: Record<string, unknown>, layout: RowLayout, values: ArrayLike<unknown>): void {
  Object.defineProperty(fields, ROW_CELLS, { value: { layout, values } satisfies RowCells });
}

export function rowCellsOf(fields: Record<string, unknown>): RowCells | undefined {
  return (fields as { [ROW_CELLS]?: RowCells })[ROW_CELLS];
}

/**
 * An input row that lives in its reader's block. `fields` is built on first use (and kept), so it
 * is the same object, with the same cells attached, that a plain record of that reader carries.
 */
export abstract class CellRecord implements InputRecord {
  #fields: Record<string, unknown> | undefined;

  constructor(
    readonly index: number,
    readonly id: string,
  ) {}

  get fields(): Record<string, unknown> {
    return (this.#fields ??= this.buildFields());
  }

  /** The columns of the file the row came from. */
  abstract get layout(): RowLayout;

  /**
   * Writes the row's cells at column `positions` as numbers into out[at], out[at + 1], …, each the
   * value the general mapping rules would give it; false (leaving partial writes) when a position
   * is -1 or a cell is not a finite number by a fast check, and the row must take the general path.
   */
  abstract readFloats(positions: Int32Array, out: Float32Array | Float64Array, at: number): boolean;

  /**
   * readFloats for a whole batch at once, where the reader holds columns (Parquet): row r of
   * `records` (this record among them) goes to out[r * stride …]. Returns per row 1 when its cells
   * are in place, 0 when that row must take readFloats' or the general path; undefined when the
   * batch cannot be read this way (then nothing was written). Reading a column at a time is what
   * makes it fast: one typed array per inner loop instead of every column per row.
   */
  readFloatRows(_records: readonly InputRecord[], _positions: Int32Array, _out: Float32Array | Float64Array, _stride: number): Uint8Array | undefined {
    return undefined;
  }

  protected abstract buildFields(): Record<string, unknown>;

  /** The record as a plain object, as the per-record readers hand it out (its fields are not kept here). */
  toPlain(): InputRecord {
    return { index: this.index, id: this.id, fields: this.#fields ?? this.buildFields() };
  }
}
