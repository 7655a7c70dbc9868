/**
 * JSONL and CSV output, and the JSONL error file. Each write() builds the batch's text in memory
 * and hands it to the file in one call, so a write costs one syscall per batch, not per row.
 *
 * JSONL: one object per row, {"id": …, "index": …, "<output>": [flattened values], …}.
 * CSV: header id,index,<out>[0],<out>[1],… then one line per row, one column per element.
 */
import { mpError } from '../../core/index.js';
import { FileSink } from './file-sink.js';
import { outputColumns, outputsInOrder, type OutputColumn } from './output-layout.js';
import { csvCell, joinValues } from './value-text.js';
import type { ErrorRow, OutputRow, OutputSchema, RowWriter } from './types.js';

class TextRowWriter implements RowWriter {
  constructor(
    private readonly sink: FileSink,
    private readonly columns: OutputColumn[],
    private readonly line: (row: OutputRow, columns: OutputColumn[]) => string,
  ) {}

  async write(rows: readonly OutputRow[]): Promise<void> {
    if (rows.length === 0) return;
    let text = '';
    for (const row of rows) text += this.line(row, this.columns);
    await this.sink.write(text);
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}

export async function createJsonlWriter(path: string, schema: OutputSchema): Promise<RowWriter> {
  const columns = outputColumns(schema);
  for (const { name } of columns) {
    if (name === 'id' || name === 'index') {
      throw mpError('MP_ERR_JOB_INVALID', `output '${name}' would collide with the row's own "${name}" key in JSONL output; write CSV or Parquet instead`);
    }
  }
  const keys = columns.map(({ name }) => `,${JSON.stringify(name)}:[`);
  const line = (row: OutputRow, cols: OutputColumn[]): string => {
    const outputs = outputsInOrder(row, cols);
    let text = `{"id":${JSON.stringify(row.id)},"index":${row.index}`;
    for (let k = 0; k < outputs.length; k++) text += `${keys[k]}${joinValues(outputs[k]!, 'json')}]`;
    return `${text}}\n`;
  };
  return new TextRowWriter(await FileSink.create(path), columns, line);
}

/** The CSV header line for a schema: id,index and one column per output element. */
export function csvHeader(columns: readonly OutputColumn[]): string {
  const cells = ['id', 'index'];
  for (const { name, count } of columns) {
    for (let i = 0; i < count!; i++) cells.push(csvCell(`${name}[${i}]`));
  }
  return `${cells.join(',')}\n`;
}

export async function createCsvWriter(path: string, schema: OutputSchema): Promise<RowWriter> {
  const columns = outputColumns(schema, 'CSV');
  const sink = await FileSink.create(path);
  try {
    await sink.write(csvHeader(columns));
  } catch (error) {
    await sink.abandon();
    throw error;
  }
  const line = (row: OutputRow, cols: OutputColumn[]): string => {
    const outputs = outputsInOrder(row, cols);
    let text = `${csvCell(row.id)},${row.index}`;
    for (const output of outputs) if (output.values.length > 0) text += `,${joinValues(output, 'csv')}`;
    return `${text}\n`;
  };
  return new TextRowWriter(sink, columns, line);
}

export interface ErrorWriter {
  write(rows: readonly ErrorRow[]): Promise<void>;
  close(): Promise<void>;
}

/** Refused rows as JSONL: {"index": …, "id": …, "reason": …} per line. */
export async function createErrorWriter(path: string): Promise<ErrorWriter> {
  const sink = await FileSink.create(path);
  return {
    async write(rows) {
      if (rows.length === 0) return;
      let text = '';
      for (const { index, id, reason } of rows) text += `{"index":${index},"id":${JSON.stringify(id)},"reason":${JSON.stringify(reason)}}\n`;
      await sink.write(text);
    },
    close: () => sink.close(),
  };
}
