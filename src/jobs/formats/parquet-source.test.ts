/**
 * ParquetSource: ranges read in order from one source give the rows a fresh read of each range
 * gives, across row groups and across windows (each decompressed into the pages of the window
 * before it), for FLOAT, DOUBLE, INT64 and string columns.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { ParquetSource, readParquet } from './parquet-reader.js';
import { CellRecord } from './row-cells.js';
import type { InputRecord } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-parquet-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('ranges read from one source, window after window, equal fresh reads', async () => {
  const rows = 9000;
  const path = join(dir, 'in.parquet');
  writeFileSync(path, new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: 'id', data: Array.from({ length: rows }, (_, r) => `p${r}`), type: 'STRING' },
      ...Array.from({ length: 5 }, (_, c) => ({ name: `f${c}`, data: new Float32Array(rows).map((_, r) => ((r * (c + 1)) % 97) / 8), type: 'FLOAT' as const })),
      { name: 'd', data: Array.from({ length: rows }, (_, r) => r / 3), type: 'DOUBLE' },
      { name: 'n', data: Array.from({ length: rows }, (_, r) => BigInt(r)), type: 'INT64' },
    ],
    rowGroupSize: 4000,
  })));
  const ranges = [[0, 1500], [1500, 3999], [3999, 4001], [4001, 8000], [8000, 9000]] as const;
  // Default windows (a row group each), and windows of a few hundred rows (many per group).
  for (const windowBytes of [undefined, 16 * 1024]) {
    const source = await ParquetSource.open(path, windowBytes === undefined ? {} : { windowBytes });
    try {
      for (const [startRow, endRow] of ranges) {
        const got: InputRecord[] = [];
        for await (const block of source.blocks({ startRow, endRow }, 'id')) got.push(...block.map((r) => (r as CellRecord).toPlain()));
        const expected: InputRecord[] = [];
        for await (const record of readParquet(path, { format: 'parquet', idColumn: 'id', startRow, endRow })) expected.push(record);
        assert.equal(got.length, endRow - startRow);
        assert.deepEqual(got, expected, `rows ${startRow}..${endRow}, windows of ${windowBytes ?? 'default'} bytes`);
      }
    } finally {
      await source.close();
    }
  }
});
