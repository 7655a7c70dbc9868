/**
 * The output columns a writer lays out from its schema, and the check that each row brings the
 * outputs the schema promised: a row is written by the schema's order, whatever order the model
 * returned its outputs in. CSV and Parquet have one column per output element, so they need each
 * output's per-row element count fixed in advance; JSONL takes any length.
 */
import { mpError, type Datatype } from '../../core/index.js';
import type { OutputRow, OutputSchema, OutputValue } from './types.js';

export interface OutputColumn {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** Elements per row; undefined when the shape has a dynamic dimension. */
  count: number | undefined;
}

export function outputColumns(schema: OutputSchema, fixedFor?: 'CSV' | 'Parquet'): OutputColumn[] {
  return schema.outputs.map(({ name, datatype, shape }) => {
    const dynamic = shape.some((dim) => dim < 0);
    if (dynamic && fixedFor !== undefined) {
      throw mpError(
        'MP_ERR_JOB_INVALID',
        `output '${name}' has the dynamic shape [${shape.join(', ')}]: ${fixedFor} outputs need a fixed number of values per row (one column each); write JSONL instead`,
      );
    }
    return { name, datatype, shape, count: dynamic ? undefined : shape.reduce((a, b) => a * b, 1) };
  });
}

/** The row's outputs in schema order; throws when one is missing or has the wrong element count. */
export function outputsInOrder(row: OutputRow, columns: readonly OutputColumn[]): OutputValue[] {
  const ordered: OutputValue[] = new Array(columns.length);
  for (let k = 0; k < columns.length; k++) {
    const column = columns[k]!;
    const candidate = row.outputs[k];
    const output = candidate?.name === column.name ? candidate : row.outputs.find((o) => o.name === column.name);
    if (output === undefined) {
      throw mpError('MP_ERR_JOB_INVALID', `row ${row.index} has no value for output '${column.name}'`);
    }
    if (column.count !== undefined && output.values.length !== column.count) {
      throw mpError(
        'MP_ERR_JOB_INVALID',
        `row ${row.index}: output '${column.name}' has ${output.values.length} values, expected ${column.count} (shape [${column.shape.join(', ')}])`,
      );
    }
    ordered[k] = output;
  }
  return ordered;
}
