/**
 * ParquetSource: ranges read in order from one source give the rows hyparquet reads for them,
 * across row groups, pages and blocks, whether the columns are streamed or read a window at a time
 * (each window decompressed into the pages of the one before, while the rows copied out of that one
 * are still in use), for FLOAT, DOUBLE, INT64 and string columns, REQUIRED or with nulls, in files
 * of pyarrow and hyparquet-writer; so do two ranges read at once, each moving the other's place.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { ParquetSource } from './parquet-reader.js';
import { CellRecord } from './row-cells.js';
import type { InputRecord } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-parquet-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FIXTURES = join(import.meta.dirname, '..', '..', '..', '..', 'test', 'fixtures', 'parquet');

/** Rows [startRow, endRow) as hyparquet reads them, in the records' shape. */
async function hyparquetRows(path: string, idColumn: string | undefined, startRow: number, endRow: number): Promise<InputRecord[]> {
  const bytes = readFileSync(path);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  const rows = await parquetReadObjects({ file, rowStart: startRow, rowEnd: endRow });
  return rows.map((fields, r) => {
    const index = startRow + r;
    const id = idColumn === undefined ? undefined : fields[idColumn];
    return { index, id: id === undefined || id === null || id === '' ? String(index) : String(id), fields };
  });
}

/** Every record of the ranges, read in order from one source. */
async function readRanges(source: ParquetSource, ranges: ReadonlyArray<readonly [number, number]>, idColumn: string | undefined): Promise<InputRecord[][]> {
  const out: InputRecord[][] = [];
  for (const [startRow, endRow] of ranges) {
    const got: InputRecord[] = [];
    for await (const block of source.blocks({ startRow, endRow }, idColumn)) got.push(...block.map((r) => (r as CellRecord).toPlain()));
    out.push(got);
  }
  return out;
}

test('ranges read from one source, window after window, equal fresh reads', async () => {
  const rows = 9000;
  const path = join(dir, 'in.parquet');
  writeFileSync(path, new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: 'id', data: Array.from({ length: rows }, (_, r) => `p${r}`), type: 'STRING' },
      // Distinct values: the writer makes them PLAIN, as real-valued features (no dictionary).
      ...Array.from({ length: 5 }, (_, c) => ({ name: `f${c}`, data: new Float32Array(rows).map((_, r) => (r * (c + 1)) / 8 + c), type: 'FLOAT' as const })),
      { name: 'd', data: Array.from({ length: rows }, (_, r) => r / 3), type: 'DOUBLE' },
      { name: 'n', data: Array.from({ length: rows }, (_, r) => BigInt(r)), type: 'INT64' },
    ],
    rowGroupSize: 4000,
  })));
  const ranges = [[0, 1500], [1500, 3999], [3999, 4001], [4001, 8000], [8000, 9000]] as const;
  // Streams; default windows (a row group each), and windows of a few hundred rows (many per
  // group), the rows before a window's end copied out while the next one decodes (prefetch) or not.
  const modes: Array<{ windowBytes?: number; prefetchRows?: number; stream?: boolean }> = [{}];
  for (const windowBytes of [undefined, 16 * 1024]) {
    for (const prefetchRows of [0, 1000, undefined]) {
      modes.push({ stream: false, ...(windowBytes !== undefined ? { windowBytes } : {}), ...(prefetchRows !== undefined ? { prefetchRows } : {}) });
    }
  }
  for (const mode of modes) {
    const label = mode.stream === false ? `windows of ${mode.windowBytes ?? 'default'} bytes, prefetch ${mode.prefetchRows ?? 'default'}` : 'streams';
    const source = await ParquetSource.open(path, mode);
    assert.equal(source.streaming, mode.stream !== false);
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
      const expected = await hyparquetRows(path, 'id', startRow, endRow);
      assert.equal(got.length, endRow - startRow);
      assert.deepEqual(got.map((r) => (r as CellRecord).toPlain()), expected, `rows ${startRow}..${endRow}, ${label}`);
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
  for (const mode of [{}, { stream: false, prefetchRows: 0 }, { stream: false, prefetchRows: 1000 }]) {
    const source = await ParquetSource.open(path, mode);
    try {
      let read = 0;
      await assert.rejects(
        (async () => {
          for await (const block of source.blocks({ startRow: 0, endRow: rows }, undefined)) read += block.length;
        })(),
        (error: Error & { code?: string }) => error.code === 'MP_ERR_JOB_INPUT' && error.message.includes('broken.parquet'),
      );
      assert.equal(read, 300, `${JSON.stringify(mode)}: the first group's rows come out`);
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
  for (const [windowBytes, prefetchRows, stream] of [[undefined, 500, true], [undefined, 500, false], [8 * 1024, 500, false], [8 * 1024, 0, false], [4 * 1024, 0, false], [undefined, 0, false]] as const) {
    const source = await ParquetSource.open(path, { prefetchRows, stream, ...(windowBytes !== undefined ? { windowBytes } : {}) });
    let halves: unknown[][];
    try {
      // Each reader's windows are the other's to replace: every switch must decode afresh.
      halves = await Promise.all([read(source, 0, 3000), read(source, 3000, rows)]);
    } finally {
      await source.close();
    }
    const expected = await hyparquetRows(path, 'id', 0, rows);
    const label = stream ? 'streams' : `windows of ${windowBytes ?? 'default'} bytes`;
    assert.deepEqual(halves[0], expected.slice(0, 3000), `first half, ${label}`);
    assert.deepEqual(halves[1], expected.slice(3000), `second half, ${label}`);
  }
});

test('pyarrow files: version 1 and 2 pages, nulls, many pages per chunk, uncompressed or Snappy, dictionaries', async () => {
  const ranges = [[0, 1], [1, 700], [700, 1300], [1300, 2399], [2399, 2400], [2400, 3000]] as const;
  const streamed = { 'v1-optional.parquet': true, 'v2-optional.parquet': true, 'v1-required-uncompressed.parquet': true, 'dictionary.parquet': false };
  for (const [name, streams] of Object.entries(streamed)) {
    const path = join(FIXTURES, name);
    const expected = await hyparquetRows(path, 'id', 0, 3000);
    for (const stream of [true, false]) {
      const source = await ParquetSource.open(path, { stream });
      try {
        assert.equal(source.streaming, stream && streams, `${name} streamed`);
        const got = await readRanges(source, ranges, 'id');
        ranges.forEach(([startRow, endRow], i) => assert.deepEqual(got[i], expected.slice(startRow, endRow), `${name}, rows ${startRow}..${endRow}, stream ${stream}`));
        // Backwards, and from inside a page: the group is read again from its start.
        const [back] = await readRanges(source, [[1850, 2650]], 'id');
        assert.deepEqual(back, expected.slice(1850, 2650), `${name}, rows 1850..2650 after the end, stream ${stream}`);
      } finally {
        await source.close();
      }
    }
  }
});

/**
 * Snappy that back-references 70,000 bytes: the first 70,000 bytes as a literal, then each piece
 * of 64 that equals the bytes 70,000 before as a copy of them (others as literals). Valid Snappy
 * (offsets may reach 4 GiB), but farther back than usual compressors go and than the streaming
 * decoder keeps.
 */
function farSnappy(input: Uint8Array): Uint8Array {
  const period = 70_000;
  const out: number[] = [];
  let n = input.length;
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  const literal = (from: number, to: number): void => {
    const n = to - from - 1;
    out.push(62 << 2, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff);
    for (let i = from; i < to; i++) out.push(input[i]!);
  };
  const head = Math.min(period, input.length);
  literal(0, head);
  for (let at = head; at < input.length; at += 64) {
    const length = Math.min(64, input.length - at);
    let repeats = true;
    for (let i = at; i < at + length && repeats; i++) repeats = input[i] === input[i - period];
    if (repeats) out.push(((length - 1) << 2) | 3, period & 0xff, (period >> 8) & 0xff, (period >> 16) & 0xff, 0);
    else literal(at, at + length);
  }
  return new Uint8Array(out);
}

test('a page the stream cannot read (a back-reference past its history) is read a window at a time', async () => {
  // Pages of 240 KB, more than the decoder's ring holds at once.
  const rows = 120_000;
  const path = join(dir, 'far.parquet');
  // 17,500 FLOATs are 70,000 bytes: the column repeats with the compressor's period.
  const values = new Float32Array(rows).map((_, r) => (r % 17_500) / 7);
  writeFileSync(path, new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: 'id', data: Array.from({ length: rows }, (_, r) => `f${r}`), type: 'STRING' },
      { name: 'x', data: values, type: 'FLOAT' },
    ],
    rowGroupSize: 60_000,
    compressors: { SNAPPY: farSnappy },
  })));
  const expected = await hyparquetRows(path, 'id', 0, rows);
  const source = await ParquetSource.open(path);
  try {
    assert.equal(source.streaming, true);
    const got = await readRanges(source, [[0, 40_000], [40_000, 90_000], [90_000, rows]], 'id');
    assert.deepEqual(got.flat(), expected);
    assert.equal(source.streaming, false, 'both groups are read by windows once their pages were met');
  } finally {
    await source.close();
  }
});
