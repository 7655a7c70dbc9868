/**
 * Readers stream: reading a generated 200k-row CSV (and the same rows as JSONL) keeps the live
 * heap flat. Live memory is sampled after forced collections while the read is under way; the
 * file is several times larger than the growth allowed, so a reader that held the file, or its
 * records, would fail.
 */
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { openRowReader } from './reader.js';
import type { DataFormat } from './types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const dir = mkdtempSync(join(tmpdir(), 'mp-formats-memory-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ROWS = 200_000;
const COLUMNS = 16;
const ALLOWED_GROWTH = 8 * 1024 * 1024;

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
