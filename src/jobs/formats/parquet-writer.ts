/**
 * Parquet output through hyparquet-writer. Columns: id (UTF-8 string), index (INT64) and one
 * column per output element, `<output>[i]`, typed from the output's datatype (FP32/FP16/BF16 →
 * FLOAT, FP64 → DOUBLE, 8/16/32-bit integers → INT32 with their width and sign annotated, UINT32
 * and INT64 → INT64, UINT64 → INT64 annotated UINT_64, BOOL → BOOLEAN, BYTES → string).
 *
 * hyparquet-writer's ParquetWriter appends one row group per write() call and calls its Writer's
 * flush() after each, so rows are buffered column-wise until a row group is full (ROW_GROUP_ROWS)
 * and the encoded group then goes to the file: memory holds one row group, never the file. Row
 * groups are cut by row count only, never by how write() calls were batched, and nothing in the
 * file depends on time or environment (fixed created_by, no key-value metadata), so the same rows
 * always give the same bytes, in one run or across a resumed one.
 */
import { ByteWriter, ParquetWriter, type ColumnSource } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet';
import { mpError, type Datatype } from '../../core/index.js';
import { FileSink } from './file-sink.js';
import { outputColumns, outputsInOrder, type OutputColumn } from './output-layout.js';
import { elementAt } from './value-text.js';
import type { OutputRow, OutputSchema, RowWriter } from './types.js';

/** Rows per row group: a few MB per group for typical outputs, small enough to buffer. */
export const ROW_GROUP_ROWS = 10_000;
const CREATED_BY = 'modelport';

/** Hands each encoded row group to the file when ParquetWriter flushes, then reuses the buffer. */
export class FileByteWriter extends ByteWriter {
  constructor(private readonly sink: FileSink) {
    super(1 << 20);
  }

  async flush(): Promise<void> {
    if (this.index > 0) await this.sink.write(new Uint8Array(this.buffer, 0, this.index));
    this.index = 0;
  }

  /** Writes `bytes` to the file as they are (after what is buffered), without copying them into the buffer. */
  async appendDirect(bytes: Uint8Array): Promise<void> {
    await this.flush();
    await this.sink.write(bytes);
    this.offset += bytes.length;
  }

  override finish(): Promise<void> {
    return this.flush();
  }
}

type Storage = Float32Array | Float64Array | Int32Array | BigInt64Array | BigUint64Array | boolean[] | string[];

interface Physical {
  element: Omit<SchemaElement, 'name'>;
  kind: 'number' | 'bigint' | 'boolean' | 'string';
  allocate(rows: number): Storage;
}

const float32: Physical = { element: { type: 'FLOAT', repetition_type: 'REQUIRED' }, kind: 'number', allocate: (n) => new Float32Array(n) };
const int32 = (converted?: SchemaElement['converted_type']): Physical => ({
  element: converted === undefined ? { type: 'INT32', repetition_type: 'REQUIRED' } : { type: 'INT32', converted_type: converted, repetition_type: 'REQUIRED' },
  kind: 'number',
  allocate: (n) => new Int32Array(n),
});

const PHYSICAL: Record<Datatype, Physical> = {
  FP32: float32,
  FP16: float32,
  BF16: float32,
  FP64: { element: { type: 'DOUBLE', repetition_type: 'REQUIRED' }, kind: 'number', allocate: (n) => new Float64Array(n) },
  INT8: int32('INT_8'),
  INT16: int32('INT_16'),
  INT32: int32(),
  UINT8: int32('UINT_8'),
  UINT16: int32('UINT_16'),
  UINT32: { element: { type: 'INT64', repetition_type: 'REQUIRED' }, kind: 'bigint', allocate: (n) => new BigInt64Array(n) },
  INT64: { element: { type: 'INT64', repetition_type: 'REQUIRED' }, kind: 'bigint', allocate: (n) => new BigInt64Array(n) },
  UINT64: { element: { type: 'INT64', converted_type: 'UINT_64', repetition_type: 'REQUIRED' }, kind: 'bigint', allocate: (n) => new BigUint64Array(n) },
  BOOL: { element: { type: 'BOOLEAN', repetition_type: 'REQUIRED' }, kind: 'boolean', allocate: (n) => new Array<boolean>(n).fill(false) },
  BYTES: { element: { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' }, kind: 'string', allocate: (n) => new Array<string>(n).fill('') },
};

/** Per-column writer options. */
function columnOptions(name: string): Partial<ColumnSource> {
  // Row indexes ascend by one: delta encoding stores them in a few bytes per page.
  return name === 'index' ? { encoding: 'DELTA_BINARY_PACKED' } : {};
}

function toBigInt(value: number | bigint | boolean | string, row: OutputRow, output: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'boolean') return value ? 1n : 0n;
  throw mpError('MP_ERR_JOB_INVALID', `row ${row.index}: output '${output}' holds ${String(value)}, expected an integer`);
}

class ParquetRowWriter implements RowWriter {
  private readonly ids: string[];
  private readonly indexes: BigInt64Array;
  /** Column storage per output element, outputs in schema order. */
  private readonly stores: Storage[][];
  /** How each output's values are stored, outputs in schema order. */
  private readonly kinds: Array<Physical['kind']>;
  private rows = 0;
  private closed = false;

  constructor(
    private readonly sink: FileSink,
    private readonly writer: ParquetWriter,
    private readonly columns: OutputColumn[],
    private readonly names: string[],
    private readonly groupRows: number,
  ) {
    this.ids = new Array<string>(groupRows).fill('');
    this.indexes = new BigInt64Array(groupRows);
    this.kinds = columns.map(({ datatype }) => PHYSICAL[datatype].kind);
    this.stores = columns.map(({ datatype, count }) => Array.from({ length: count! }, () => PHYSICAL[datatype].allocate(groupRows)));
  }

  async write(rows: readonly OutputRow[]): Promise<void> {
    for (const row of rows) {
      const outputs = outputsInOrder(row, this.columns);
      const at = this.rows;
      this.ids[at] = row.id;
      this.indexes[at] = BigInt(row.index);
      for (let k = 0; k < outputs.length; k++) {
        const output = outputs[k]!;
        const stores = this.stores[k]!;
        const kind = this.kinds[k];
        for (let i = 0; i < stores.length; i++) {
          const value = elementAt(output, i);
          if (kind === 'number') (stores[i] as Float32Array)[at] = Number(value);
          else if (kind === 'bigint') (stores[i] as BigInt64Array)[at] = toBigInt(value, row, output.name);
          else if (kind === 'boolean') (stores[i] as boolean[])[at] = Boolean(value);
          else (stores[i] as string[])[at] = String(value);
        }
      }
      this.rows++;
      if (this.rows === this.groupRows) await this.flushGroup();
    }
  }

  private async flushGroup(): Promise<void> {
    const n = this.rows;
    if (n === 0) return;
    const columnData: ColumnSource[] = [
      { name: 'id', data: this.ids.slice(0, n), ...columnOptions('id') },
      { name: 'index', data: this.indexes.subarray(0, n), ...columnOptions('index') },
    ];
    let c = 2;
    for (const stores of this.stores) {
      for (const store of stores) {
        const name = this.names[c++]!;
        columnData.push({ name, data: Array.isArray(store) ? store.slice(0, n) : store.subarray(0, n), ...columnOptions(name) });
      }
    }
    // The group is encoded synchronously inside write(); the buffers can be refilled afterwards.
    await this.writer.write({ columnData, rowGroupSize: n });
    this.rows = 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flushGroup();
      await this.writer.finish();
    } catch (error) {
      await this.sink.abandon();
      throw error;
    }
    await this.sink.close();
  }
}

export async function createParquetWriter(path: string, schema: OutputSchema, groupRows = ROW_GROUP_ROWS): Promise<RowWriter> {
  const columns = outputColumns(schema, 'Parquet');
  const elements: SchemaElement[] = [
    { name: 'id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    { name: 'index', type: 'INT64', repetition_type: 'REQUIRED' },
  ];
  for (const { name, datatype, count } of columns) {
    for (let i = 0; i < count!; i++) elements.push({ name: `${name}[${i}]`, ...PHYSICAL[datatype].element });
  }
  const names = elements.map((e) => e.name);
  if (new Set(names).size !== names.length) {
    throw mpError('MP_ERR_JOB_INVALID', `Parquet output columns would repeat a name: ${names.join(', ')}`);
  }
  const sink = await FileSink.create(path);
  const writer = new ParquetWriter({
    writer: new FileByteWriter(sink),
    schema: [{ name: 'root', num_children: elements.length }, ...elements],
    createdBy: CREATED_BY,
  });
  return new ParquetRowWriter(sink, writer, columns, names, groupRows);
}
