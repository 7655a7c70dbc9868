/**
 * The fast CSV reader against csv-parse (csv-reader.ts): on random files, regular or not, read in
 * full and by partition, it gives exactly csv-parse's records, and rows crossing read boundaries
 * come out whole. Its numbers are checked against Number() in number-text.test.ts, and mapping
 * its records against mapping plain records in row-mapper.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readCsvBlocks } from './csv-blocks.js';
import { readCsv } from './csv-reader.js';
import { scanPartitions } from './reader.js';
import { CellRecord } from './row-cells.js';
import type { InputRecord, ReaderOptions } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-csv-blocks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
function file(content: string): string {
  const path = join(dir, `${count++}.csv`);
  writeFileSync(path, content);
  return path;
}

async function fast(path: string, options: ReaderOptions): Promise<InputRecord[]> {
  const records: InputRecord[] = [];
  for await (const block of readCsvBlocks(path, options)) {
    for (const record of block) records.push(record instanceof CellRecord ? record.toPlain() : record);
  }
  return records;
}

async function parsed(path: string, options: ReaderOptions): Promise<InputRecord[]> {
  const records: InputRecord[] = [];
  for await (const record of readCsv(path, options)) records.push(record);
  return records;
}

async function agree(path: string, partitionRows: number, idColumn?: string): Promise<void> {
  const base: ReaderOptions = { format: 'csv', ...(idColumn !== undefined ? { idColumn } : {}) };
  assert.deepEqual(await fast(path, base), await parsed(path, base), `${path} in full`);
  const { partitions } = await scanPartitions(path, 'csv', partitionRows);
  for (const { startRow, endRow, startByte } of partitions) {
    const range: ReaderOptions = { ...base, startRow, endRow, ...(startByte !== undefined ? { startByte } : {}) };
    assert.deepEqual(await fast(path, range), await parsed(path, range), `${path} rows ${startRow}..${endRow}`);
  }
}

describe('fast CSV reader', () => {
  test('random files, regular or not, read as csv-parse reads them', async () => {
    const pieces = ['a', 'bc', '1.5', '-0', '1e3', ' 2', '', '"q"', '"x,y"', '"l1\nl2"', '"a""b"', '"\r\n"', 'é😀', 'x"y', '"a"b', '\r', '007', '.5'];
    let seed = 11;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 120; round++) {
      const newline = round % 3 === 0 ? '\r\n' : '\n';
      const width = 1 + random(4);
      const lines = [Array.from({ length: width }, (_, c) => (c === 0 ? 'id' : `c${c}`)).join(',')];
      for (let r = 0; r < 1 + random(30); r++) {
        const cells = Array.from({ length: random(5) === 0 ? random(6) : width }, () => pieces[random(pieces.length)]!);
        lines.push(cells.join(','));
        if (random(8) === 0) lines.push('');
      }
      const path = file(lines.join(newline) + (random(2) === 0 ? newline : ''));
      await agree(path, 1 + random(5), random(2) === 0 ? 'id' : undefined);
    }
  });

  test('rows that cross read boundaries, with quoted cells, CRLF and LF', async () => {
    for (const newline of ['\n', '\r\n']) {
      const lines = ['id,x,text,y'];
      // About 1.2 MB: several reads, with rows of all lengths ending anywhere in them.
      for (let r = 0; r < 9000; r++) {
        const text = r % 11 === 0 ? `"long ${'z'.repeat(r % 400)}${newline}""quoted"""` : `t${r}`;
        lines.push(`r${r},${(r % 1000) / 8 - 60},${text},${r % 7 === 0 ? '' : r / 3}`);
      }
      const path = file(`${lines.join(newline)}${newline}`);
      await agree(path, 2500, 'id');
    }
  });

  test('an unclosed quote is refused as csv-parse refuses it', async () => {
    const path = file('a,b\n1,2\n3,"open\n4,5\n');
    await assert.rejects(fast(path, { format: 'csv' }), /cannot be parsed/);
  });
});
