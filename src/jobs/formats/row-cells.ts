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
 */

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
