/**
 * Writers and merges: each format's output read back (by our readers, so Parquet is checked
 * through hyparquet), the exact JSONL/CSV text for awkward values, partition files merged in
 * order, and Parquet bytes that do not depend on how rows were batched or on the run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parquetMetadataAsync, parquetSchema } from 'hyparquet';
import { isModelportError } from '../../core/index.js';
import { openParquetFile } from './parquet-file.js';
import { createParquetWriter } from './parquet-writer.js';
import { openRowReader } from './reader.js';
import type { DataFormat, InputRecord, OutputRow, OutputSchema } from './types.js';
import { concatParts, createErrorWriter, createRowWriter } from './writer.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-formats-write-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
const path = (name: string) => join(dir, `${fileCount++}-${name}`);

const schema: OutputSchema = {
  outputs: [
    { name: 'probs', datatype: 'FP32', shape: [3] },
    { name: 'label', datatype: 'INT64', shape: [] },
    { name: 'flags', datatype: 'BOOL', shape: [2] },
    { name: 'tag', datatype: 'BYTES', shape: [1] },
    { name: 'wide', datatype: 'FP64', shape: [1, 2] },
  ],
};

function row(i: number): OutputRow {
  return {
    index: i,
    id: i % 4 === 0 ? `id "${i}", x` : `r${i}`,
    outputs: [
      // Deliberately out of schema order: writers follow the schema.
      { name: 'label', datatype: 'INT64', shape: [], values: new BigInt64Array([BigInt(i) * 1_000_000_007n - 2n ** 62n]) },
      { name: 'probs', datatype: 'FP32', shape: [3], values: new Float32Array([0.1 * i, -i - 0.25, 1 / 3]) },
      { name: 'flags', datatype: 'BOOL', shape: [2], values: new Uint8Array([i % 2, 1]) },
      { name: 'tag', datatype: 'BYTES', shape: [1], values: [i % 5 === 0 ? 'a,"b"\nc' : `t${i}`] },
      { name: 'wide', datatype: 'FP64', shape: [1, 2], values: new Float64Array([i / 7, 1e21 * i]) },
    ],
  };
}

const rows = Array.from({ length: 57 }, (_, i) => row(i));

async function readAll(file: string, format: DataFormat): Promise<InputRecord[]> {
  const records: InputRecord[] = [];
  for await (const record of openRowReader(file, { format, idColumn: 'id' })) records.push(record);
  return records;
}

async function write(file: string, format: DataFormat, batches: OutputRow[][]): Promise<string> {
  const writer = await createRowWriter(file, format, schema);
  for (const batch of batches) await writer.write(batch);
  await writer.close();
  return file;
}

/** What each row should read back as, per format. */
function expected(format: DataFormat, r: OutputRow): Record<string, unknown> {
  const [label, probs, flags, tag, wide] = r.outputs;
  const f32 = Array.from(probs!.values as Float32Array);
  const b = Array.from(flags!.values as Uint8Array, (v) => v === 1);
  const w = Array.from(wide!.values as Float64Array);
  const l = (label!.values as BigInt64Array)[0]!;
  const t = (tag!.values as string[])[0]!;
  if (format === 'jsonl') return { id: r.id, index: r.index, probs: f32, label: [Number(l)], flags: b, tag: [t], wide: w };
  const cells: Record<string, unknown> = { id: r.id, index: format === 'csv' ? String(r.index) : BigInt(r.index) };
  const put = (name: string, values: unknown[], text: (v: unknown) => string) => values.forEach((v, i) => {
    cells[`${name}[${i}]`] = format === 'csv' ? text(v) : v;
  });
  put('probs', f32, String);
  put('label', [l], String);
  put('flags', b, String);
  put('tag', [t], String);
  put('wide', w, String);
  return cells;
}

describe('row writers', () => {
  for (const format of ['jsonl', 'csv', 'parquet'] as const) {
    test(`${format}: rows read back as written`, async () => {
      const file = await write(path(`out.${format}`), format, [rows.slice(0, 5), [], rows.slice(5, 40), rows.slice(40)]);
      const records = await readAll(file, format);
      assert.equal(records.length, rows.length);
      for (const [i, record] of records.entries()) {
        assert.equal(record.error, undefined);
        assert.equal(record.id, rows[i]!.id);
        assert.deepEqual(record.fields, expected(format, rows[i]!), `row ${i}`);
      }
    });
  }

  test('JSONL text: exact BigInts, float32 values, null for non-finite', async () => {
    const file = path('exact.jsonl');
    const writer = await createRowWriter(file, 'jsonl', {
      outputs: [
        { name: 'v', datatype: 'FP32', shape: [4] },
        { name: 'n', datatype: 'UINT64', shape: [1] },
        { name: 'h', datatype: 'FP16', shape: [2] },
        { name: 'seq', datatype: 'INT32', shape: [-1] },
      ],
    });
    await writer.write([{
      index: 3,
      id: 'x',
      outputs: [
        { name: 'v', datatype: 'FP32', shape: [4], values: new Float32Array([0.1, NaN, -Infinity, 1e-45]) },
        { name: 'n', datatype: 'UINT64', shape: [1], values: new BigUint64Array([2n ** 64n - 1n]) },
        { name: 'h', datatype: 'FP16', shape: [2], values: new Uint16Array([0x3c00, 0xc000]) },
        { name: 'seq', datatype: 'INT32', shape: [-1], values: new Int32Array([1, 2, 3]) },
      ],
    }]);
    await writer.close();
    assert.equal(
      readFileSync(file, 'utf8'),
      '{"id":"x","index":3,"v":[0.10000000149011612,null,null,1.401298464324817e-45],"n":[18446744073709551615],"h":[1,-2],"seq":[1,2,3]}\n',
    );
  });

  test('CSV text: header per element, quoting, NaN spelled out', async () => {
    const file = path('exact.csv');
    const writer = await createRowWriter(file, 'csv', { outputs: [{ name: 'a,b', datatype: 'FP32', shape: [2] }, { name: 'k', datatype: 'INT8', shape: [] }] });
    await writer.write([{ index: 0, id: ' padded ', outputs: [
      { name: 'a,b', datatype: 'FP32', shape: [2], values: new Float32Array([NaN, 2.5]) },
      { name: 'k', datatype: 'INT8', shape: [], values: new Int8Array([-7]) },
    ] }]);
    await writer.close();
    assert.equal(readFileSync(file, 'utf8'), 'id,index,"a,b[0]","a,b[1]",k[0]\n" padded ",0,NaN,2.5,-7\n');
  });

  test('Parquet column types', async () => {
    const file = await write(path('types.parquet'), 'parquet', [rows.slice(0, 3)]);
    const parquet = await openParquetFile(file);
    try {
      const types = Object.fromEntries(parquetSchema(parquet.metadata).children.map((c) => [c.element.name, c.element.type]));
      assert.deepEqual(types, {
        id: 'BYTE_ARRAY', index: 'INT64', 'probs[0]': 'FLOAT', 'probs[1]': 'FLOAT', 'probs[2]': 'FLOAT', 'label[0]': 'INT64',
        'flags[0]': 'BOOLEAN', 'flags[1]': 'BOOLEAN', 'tag[0]': 'BYTE_ARRAY', 'wide[0]': 'DOUBLE', 'wide[1]': 'DOUBLE',
      });
      assert.equal(parquet.metadata.created_by, 'modelport');
    } finally {
      await parquet.close();
    }
  });

  test('Parquet: row groups of a fixed size, bytes independent of write batching', async () => {
    const a = path('a.parquet');
    const b = path('b.parquet');
    for (const [file, batches] of [[a, [rows]], [b, rows.map((r) => [r])]] as const) {
      const writer = await createParquetWriter(file, schema, 10);
      for (const batch of batches) await writer.write(batch);
      await writer.close();
    }
    assert.deepEqual(readFileSync(a), readFileSync(b));
    const parquet = await openParquetFile(a);
    await parquet.close();
    assert.deepEqual(parquet.metadata.row_groups.map((g) => Number(g.num_rows)), [10, 10, 10, 10, 10, 7]);
  });

  test('CSV and Parquet need fixed output shapes; rows must carry every output', async () => {
    const dynamic: OutputSchema = { outputs: [{ name: 'seq', datatype: 'FP32', shape: [-1] }] };
    for (const format of ['csv', 'parquet'] as const) {
      await assert.rejects(createRowWriter(path(`d.${format}`), format, dynamic), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INVALID' && /dynamic shape/.test(e.message));
    }
    const writer = await createRowWriter(path('m.csv'), 'csv', schema);
    await assert.rejects(writer.write([{ ...rows[0]!, outputs: rows[0]!.outputs.slice(1) }]), /row 0 has no value for output 'label'/);
    await assert.rejects(writer.write([{ ...rows[1]!, outputs: [{ ...rows[1]!.outputs[1]!, values: new Float32Array(2) }, ...rows[1]!.outputs] }]), /output 'probs' has 2 values, expected 3/);
    await writer.close();
    await assert.rejects(createRowWriter(path('c.jsonl'), 'jsonl', { outputs: [{ name: 'id', datatype: 'FP32', shape: [1] }] }), /collide/);
  });

  test('error writer', async () => {
    const file = path('errors.jsonl');
    const writer = await createErrorWriter(file);
    await writer.write([{ index: 4, id: 'a"b', reason: "field 'x' is missing" }]);
    await writer.write([]);
    await writer.write([{ index: 9, id: '9', reason: 'line is not valid JSON' }]);
    await writer.close();
    await writer.close();
    assert.equal(readFileSync(file, 'utf8'), '{"index":4,"id":"a\\"b","reason":"field \'x\' is missing"}\n{"index":9,"id":"9","reason":"line is not valid JSON"}\n');
  });
});

describe('concatParts', () => {
  /** Writes rows as parts of `size` rows each. */
  async function parts(format: DataFormat, size: number, tag: string): Promise<string[]> {
    const files: string[] = [];
    for (let start = 0; start < rows.length; start += size) {
      files.push(await write(path(`${tag}-part${start}.${format}`), format, [rows.slice(start, start + size)]));
    }
    // An empty partition merges as nothing.
    files.splice(1, 0, await write(path(`${tag}-empty.${format}`), format, []));
    return files;
  }

  for (const format of ['jsonl', 'csv', 'parquet'] as const) {
    test(`${format}: parts merge in order into what one writer would have written`, async () => {
      const whole = await write(path(`whole.${format}`), format, [rows]);
      const merged = path(`merged.${format}`);
      await concatParts(await parts(format, 20, 'x'), merged, format);
      assert.deepEqual(await readAll(merged, format), await readAll(whole, format));
      if (format !== 'parquet') assert.deepEqual(readFileSync(merged), readFileSync(whole));
      // Parts written again (a resumed run) merge to the same bytes.
      const again = path(`again.${format}`);
      await concatParts(await parts(format, 20, 'y'), again, format);
      assert.deepEqual(readFileSync(again), readFileSync(merged));
      if (format === 'parquet') {
        const metadata = await parquetMetadataAsync(new Uint8Array(readFileSync(merged)).buffer);
        assert.deepEqual(metadata.row_groups.map((g) => Number(g.num_rows)), [20, 20, 17]);
      }
    });
  }

  test('parquet: parts merge into the bytes of one writer cutting the same row groups, page indexes included', async () => {
    // Tags of 40 KB make each part's tag chunk several 1 MB pages: it gets an offset index, whose
    // absolute page offsets must move with the chunk.
    const wide = rows.map((r, i) => ({ ...r, outputs: r.outputs.map((o) => (o.name === 'tag' ? { ...o, values: [`${i}:${'x'.repeat(40_000)}`] } : o)) }));
    const groupRows = 30;
    const whole = path('whole-30.parquet');
    const writer = await createParquetWriter(whole, schema, groupRows);
    await writer.write(wide);
    await writer.close();
    const parts: string[] = [];
    for (const [start, end] of [[0, 30], [30, 30], [30, 57]] as const) {
      const part = path(`part-30-${start}-${end}.parquet`);
      const partWriter = await createParquetWriter(part, schema, groupRows);
      await partWriter.write(wide.slice(start, end));
      await partWriter.close();
      parts.push(part);
    }
    const merged = path('merged-30.parquet');
    await concatParts(parts, merged, 'parquet');
    const metadata = await parquetMetadataAsync(new Uint8Array(readFileSync(merged)).buffer);
    const tagChunk = metadata.row_groups[1]!.columns.find((c) => c.meta_data!.path_in_schema[0] === 'tag[0]')!;
    assert.ok(tagChunk.offset_index_offset !== undefined, 'the tag chunks have offset indexes');
    assert.deepEqual(readFileSync(merged), readFileSync(whole));
    assert.deepEqual(await readAll(merged, 'parquet'), await readAll(whole, 'parquet'));
    // One part merges into itself.
    const single = path('single.parquet');
    await concatParts([parts[2]!], single, 'parquet');
    assert.deepEqual(readFileSync(single), readFileSync(parts[2]!));
  });

  test('parts with other columns are refused; no parts, or the output among them, too', async () => {
    const other = path('other.csv');
    const writer = await createRowWriter(other, 'csv', { outputs: [{ name: 'z', datatype: 'FP32', shape: [1] }] });
    await writer.close();
    const first = await write(path('first.csv'), 'csv', [rows.slice(0, 2)]);
    await assert.rejects(concatParts([first, other], path('bad.csv'), 'csv'), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INVALID');
    await assert.rejects(concatParts([], path('none.csv'), 'csv'), /no parts/);
    await assert.rejects(concatParts([first], first, 'csv'), /also one of the parts/);
    const p1 = await write(path('p1.parquet'), 'parquet', [rows.slice(0, 2)]);
    const p2 = path('p2.parquet');
    const w2 = await createRowWriter(p2, 'parquet', { outputs: [{ name: 'z', datatype: 'FP32', shape: [1] }] });
    await w2.close();
    await assert.rejects(concatParts([p1, p2], path('bad.parquet'), 'parquet'), /share a schema/);
  });
});
