/**
 * Readers stream: reading a generated 200k-row CSV (and the same rows as JSONL) keeps the live
 * heap flat. Live memory is sampled after forced collections while the read is under way; the
 * file is several times larger than the growth allowed, so a reader that held the file, or its
 * records, would fail. The same for Parquet (live heap and buffers), in a single row group whose
 * column chunks are one page each: a reader that held a page (or the group) decoded would fail.
 */
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { writeFileSync } from 'node:fs';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { openRowReader } from './reader.js';
import type { DataFormat } from './types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const dir = mkdtempSync(join(tmpdir(), 'mp-formats-memory-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ROWS = 200_000;
const COLUMNS = 16;
const ALLOWED_GROWTH = 8 * 1024 * 1024;
const PARQUET_ROWS = 400_000;
const PARQUET_COLUMNS = 64;
const PARQUET_ALLOWED_GROWTH = 32 * 1024 * 1024;

async function generate(path: string, format: DataFormat): Promise<void> {
  const out = createWriteStream(path);
  const names = Array.from({ length: COLUMNS }, (_, c) => `f${c}`);
  if (format === 'csv') out.write(`id,${names.join(',')}\n`);
  let text = '';
  for (let r = 0; r < ROWS; r++) {
    const values = Array.from({ length: COLUMNS }, (_, c) => ((r * 31 + c * 17) % 1000 / 7).toFixed(5));
    text += format === 'csv' ? `r${r},${values.join(',')}\n` : `{"id":"r${r}","x":[${values.join(',')}]}\n`;
    if (text.length > 1 << 20) {
      if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      text = '';
    }
  }
  out.end(text);
  await new Promise<void>((resolve, reject) => out.on('finish', () => resolve()).on('error', reject));
}

for (const format of ['csv', 'jsonl'] as const) {
  test(`reading a ${ROWS}-row ${format} file keeps the heap flat`, async () => {
    const path = join(dir, `big.${format}`);
    await generate(path, format);
    const size = statSync(path).size;
    assert.ok(size > 3 * ALLOWED_GROWTH, `test file is ${size} bytes`);
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    let rows = 0;
    for await (const record of openRowReader(path, { format, idColumn: 'id' })) {
      assert.equal(record.index, rows);
      rows++;
      if (rows % 25_000 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
      }
    }
    assert.equal(rows, ROWS);
    assert.ok(peak < ALLOWED_GROWTH, `live heap grew by ${(peak / 1048576).toFixed(1)} MiB reading ${(size / 1048576).toFixed(0)} MiB`);
  });
}

/**
 * One row group of FLOAT columns, each a single uncompressed page: 100 MiB of pages, where the
 * streams' buffers (~192 KiB a column) and the blocks of rows in hand are ~20 MiB. In a function,
 * so that none of it stays reachable.
 */
function writeParquet(path: string): void {
  const columns = Array.from({ length: PARQUET_COLUMNS }, (_, c) => {
    const data = new Float32Array(PARQUET_ROWS);
    for (let r = 0; r < PARQUET_ROWS; r++) data[r] = ((r * 31 + c * 17) % 100_003) / 7;
    return { name: `f${c}`, data, type: 'FLOAT' as const, nullable: false };
  });
  const bytes = parquetWriteBuffer({ columnData: columns, rowGroupSize: PARQUET_ROWS, pageSize: 64 * 1024 * 1024, codec: 'UNCOMPRESSED' });
  writeFileSync(path, new Uint8Array(bytes));
}

test(`reading a ${PARQUET_ROWS}-row Parquet row group of single-page columns holds blocks, not the pages`, async () => {
  const path = join(dir, 'big.parquet');
  writeParquet(path);
  const decoded = PARQUET_COLUMNS * PARQUET_ROWS * 4;
  assert.ok(decoded > 3 * PARQUET_ALLOWED_GROWTH, `decoded columns are ${decoded} bytes`);
  // The writer's buffers are freed after a collection, and counted as freed a moment later.
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  const live = (): number => {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  const baseline = live();
  let peak = 0;
  let rows = 0;
  for await (const record of openRowReader(path, { format: 'parquet' })) {
    assert.equal(record.index, rows);
    rows++;
    if (rows % 25_000 === 0) {
      gc();
      peak = Math.max(peak, live() - baseline);
    }
  }
  assert.equal(rows, PARQUET_ROWS);
  assert.ok(peak < PARQUET_ALLOWED_GROWTH, `live heap and buffers grew by ${(peak / 1048576).toFixed(1)} MiB reading ${(decoded / 1048576).toFixed(0)} MiB of columns`);
});
