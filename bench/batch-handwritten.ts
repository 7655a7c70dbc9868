/**
 * The batch benchmark's second baseline: the same job as `modelport batch` (file in, one output
 * row per input row keyed by its id, file out) written directly against onnxruntime-node, the way
 * the libraries' own documentation shows, as a team without Modelport would write it. The model
 * runs in this process with the session options and intra-op threads of the in-process ceiling;
 * one batch at a time, rows read, run and written in order. It has none of the batch engine's
 * duties: no partitions or resume, no errors file (a bad row ends it), no progress.
 *
 * CSV: csv-parse (the reader Modelport's dependency list names), Number() per cell, output lines
 * joined by hand. Parquet: hyparquet, a row group at a time, its decoded columns (onChunk) copied
 * into the batch tensor; the outputs kept in memory and written at the end with hyparquet-writer's
 * parquetWriteFile. Prints `rows: N` when done.
 *
 *   node dist/bench/batch-handwritten.js MODEL.onnx INPUT OUTPUT BATCH_SIZE
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse } from 'csv-parse';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet';
import { parquetWriteFile } from 'hyparquet-writer';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { buildSessionOptions } from '../src/runtime/onnx/session-options.js';
import { FEATURE_NAMES, FEATURES } from './batch-data.js';

const OUTPUTS = 10;

async function csvJob(session: InferenceSession, input: string, output: string, batchSize: number): Promise<number> {
  const out = createWriteStream(output);
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write(`id,${Array.from({ length: OUTPUTS }, (_, i) => `output[${i}]`).join(',')}\n`);
  const batch = new Float32Array(batchSize * FEATURES);
  const ids: string[] = [];
  let columns: number[] | undefined;
  let idColumn = 0;
  let rows = 0;
  const flush = async (): Promise<void> => {
    const n = ids.length;
    const result = await session.run({ input: new Tensor('float32', batch.subarray(0, n * FEATURES), [n, FEATURES]) });
    const values = result['output']!.data as Float32Array;
    let text = '';
    for (let r = 0; r < n; r++) text += `${ids[r]},${Array.prototype.join.call(values.subarray(r * OUTPUTS, (r + 1) * OUTPUTS), ',')}\n`;
    await write(text);
    rows += n;
    ids.length = 0;
  };
  for await (const record of createReadStream(input).pipe(parse()) as AsyncIterable<string[]>) {
    if (columns === undefined) {
      columns = FEATURE_NAMES.map((name) => record.indexOf(name));
      idColumn = record.indexOf('id');
      continue;
    }
    const at = ids.length * FEATURES;
    for (let f = 0; f < FEATURES; f++) batch[at + f] = Number(record[columns[f]!]);
    ids.push(record[idColumn]!);
    if (ids.length === batchSize) await flush();
  }
  if (ids.length > 0) await flush();
  out.end();
  await once(out, 'finish');
  return rows;
}

async function parquetJob(session: InferenceSession, input: string, output: string, batchSize: number): Promise<number> {
  const file = await asyncBufferFromFile(input);
  const metadata = await parquetMetadataAsync(file);
  const total = Number(metadata.num_rows);
  const outIds: string[] = [];
  const outValues = Array.from({ length: OUTPUTS }, () => new Float32Array(total));
  const batch = new Float32Array(batchSize * FEATURES);
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupRows = Number(group.num_rows);
    const columns = new Map<string, ArrayLike<unknown>>();
    await parquetRead({
      file,
      metadata,
      rowStart: groupStart,
      rowEnd: groupStart + groupRows,
      columns: ['id', ...FEATURE_NAMES],
      onChunk: ({ columnName, columnData }) => void columns.set(columnName, columnData),
    });
    const features = FEATURE_NAMES.map((name) => columns.get(name) as ArrayLike<number>);
    const ids = columns.get('id') as ArrayLike<string>;
    for (let start = 0; start < groupRows; start += batchSize) {
      const n = Math.min(batchSize, groupRows - start);
      for (let r = 0; r < n; r++) {
        for (let f = 0; f < FEATURES; f++) batch[r * FEATURES + f] = features[f]![start + r]!;
        outIds.push(ids[start + r]!);
      }
      const result = await session.run({ input: new Tensor('float32', batch.subarray(0, n * FEATURES), [n, FEATURES]) });
      const values = result['output']!.data as Float32Array;
      const row0 = groupStart + start;
      for (let r = 0; r < n; r++) for (let o = 0; o < OUTPUTS; o++) outValues[o]![row0 + r] = values[r * OUTPUTS + o]!;
    }
    groupStart += groupRows;
  }
  parquetWriteFile({
    filename: output,
    columnData: [
      { name: 'id', data: outIds, type: 'STRING' },
      ...outValues.map((data, o) => ({ name: `output[${o}]`, data, type: 'FLOAT' as const })),
    ],
  });
  return outIds.length;
}

async function main(): Promise<void> {
  const [model, input, output, batchText] = process.argv.slice(2);
  const batchSize = Number(batchText);
  if (!model || !input || !output || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    process.stderr.write('usage: node dist/bench/batch-handwritten.js MODEL.onnx INPUT OUTPUT BATCH_SIZE\n');
    process.exit(2);
  }
  const session = await InferenceSession.create(model, buildSessionOptions(availableParallelism()));
  const rows = input.endsWith('.parquet') ? await parquetJob(session, input, output, batchSize) : await csvJob(session, input, output, batchSize);
  process.stdout.write(`rows: ${rows}\n`);
}

await main();
