/**
 * ParquetSource: ranges read in order from one source give the rows a fresh read of each range
 * gives, across row groups and across windows (each decompressed into the pages of the window
 * before it, while the rows copied out of that one are still in use), for FLOAT, DOUBLE, INT64 and
 * string columns; so do two ranges read at once, each replacing the other's window.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parquetMetadata } from 'hyparquet';
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
  // Default windows (a row group each), and windows of a few hundred rows (many per group); the
  // rows before a window's end copied out while the next one decodes (prefetch) or not.
  for (const windowBytes of [undefined, 16 * 1024]) {
    for (const prefetchRows of [0, 1000, undefined]) {
      const label = `windows of ${windowBytes ?? 'default'} bytes, prefetch ${prefetchRows ?? 'default'}`;
      const source = await ParquetSource.open(path, { ...(windowBytes !== undefined ? { windowBytes } : {}), ...(prefetchRows !== undefined ? { prefetchRows } : {}) });
      const kept: Array<[number, number, InputRecord[]]> = [];
      try {
        for (const [startRow, endRow] of ranges) {
          const got: InputRecord[] = [];
          for await (const block of source.blocks({ startRow, endRow }, 'id')) {
            got.push(...block);
            // As slow as a job between blocks: a window being decoded meanwhile gets to its pages.
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          kept.push([startRow, endRow, got]);
        }
      } finally {
        await source.close();
      }
      // Read only now: records handed out early must not see the pages of windows decoded since.
      for (const [startRow, endRow, got] of kept) {
        const expected: InputRecord[] = [];
        for await (const record of readParquet(path, { format: 'parquet', idColumn: 'id', startRow, endRow })) expected.push(record);
        assert.equal(got.length, endRow - startRow);
        assert.deepEqual(got.map((r) => (r as CellRecord).toPlain()), expected, `rows ${startRow}..${endRow}, ${label}`);
      }
    }
  }
});

test('a row group that cannot be decoded fails the read that needs it, decoded ahead or not', async () => {
  const rows = 600;
  const path = join(dir, 'broken.parquet');
  const bytes = new Uint8Array(parquetWriteBuffer({
    columnData: [{ name: 'f', data: new Float32Array(rows).map((_, r) => r), type: 'FLOAT' }],
    rowGroupSize: 300,
  }));
  // Rows 300… are the second row group's page: break its snappy stream.
  const second = parquetMetadata(bytes.buffer).row_groups[1]!.columns[0]!.meta_data!;
  const at = Number(second.dictionary_page_offset ?? second.data_page_offset);
  bytes.fill(0xff, at + 20, at + 60);
  writeFileSync(path, bytes);
  for (const prefetchRows of [0, 1000]) {
    const source = await ParquetSource.open(path, { prefetchRows });
    try {
      let read = 0;
      await assert.rejects(
        (async () => {
          for await (const block of source.blocks({ startRow: 0, endRow: rows }, undefined)) read += block.length;
        })(),
        (error: Error & { code?: string }) => error.code === 'MP_ERR_JOB_INPUT' && error.message.includes('broken.parquet'),
      );
      assert.equal(read, 300, `prefetch ${prefetchRows}: the first group's rows come out`);
    } finally {
      await source.close();
    }
  }
});

test('two ranges read at once from one source each get their own rows', async () => {
  const rows = 6000;
  const path = join(dir, 'concurrent.parquet');
  writeFileSync(path, new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: 'id', data: Array.from({ length: rows }, (_, r) => `c${r}`), type: 'STRING' },
      ...Array.from({ length: 3 }, (_, c) => ({ name: `f${c}`, data: new Float32Array(rows).map((_, r) => r * (c + 1)), type: 'FLOAT' as const })),
    ],
    rowGroupSize: 2000,
  })));
  const read = async (source: ParquetSource, startRow: number, endRow: number): Promise<unknown[]> => {
    const got: unknown[] = [];
    for await (const block of source.blocks({ startRow, endRow }, 'id')) {
      got.push(...block.map((r) => (r as CellRecord).toPlain()));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return got;
  };
  for (const [windowBytes, prefetchRows] of [[undefined, 500], [8 * 1024, 500], [8 * 1024, 0], [4 * 1024, 0], [undefined, 0]] as const) {
    const source = await ParquetSource.open(path, { prefetchRows, ...(windowBytes !== undefined ? { windowBytes } : {}) });
    let halves: unknown[][];
    try {
      // Each reader's windows are the other's to replace: every switch must decode afresh.
      halves = await Promise.all([read(source, 0, 3000), read(source, 3000, rows)]);
    } finally {
      await source.close();
    }
    const expected: unknown[] = [];
    for await (const record of readParquet(path, { format: 'parquet', idColumn: 'id' })) expected.push(record);
    assert.deepEqual(halves[0], expected.slice(0, 3000), `first half, windows of ${windowBytes ?? 'default'} bytes`);
    assert.deepEqual(halves[1], expected.slice(3000), `second half, windows of ${windowBytes ?? 'default'} bytes`);
  }
});
