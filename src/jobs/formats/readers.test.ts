/**
 * Readers and partition scans: every format read in full, by row range and (JSONL, CSV) from the
 * byte offsets scanPartitions records, which must give exactly the matching slice of a full read;
 * bad rows become error records; CSV's fast record scanner agrees with csv-parse's own offsets.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { isModelportError } from '../../core/index.js';
import { scanCsvRecords } from './csv-reader.js';
import { detectFormat } from './format.js';
import { readJsonl } from './jsonl-reader.js';
import { openRowReader, scanPartitions } from './reader.js';
import type { DataFormat, InputRecord, ReaderOptions } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-formats-read-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, `${fileCount++}-${name}`);
  writeFileSync(path, content);
  return path;
}

async function readAll(path: string, options: ReaderOptions): Promise<InputRecord[]> {
  const records: InputRecord[] = [];
  for await (const record of openRowReader(path, options)) records.push(record);
  return records;
}

/** Reads every partition from its start offset and checks it against the full read. */
async function checkPartitions(path: string, format: DataFormat, partitionRows: number, options: Partial<ReaderOptions> = {}): Promise<void> {
  const full = await readAll(path, { format, ...options });
  const { partitions, rows } = await scanPartitions(path, format, partitionRows);
  assert.equal(rows, full.length);
  assert.equal(partitions.length, Math.max(1, Math.ceil(rows / partitionRows)));
  const joined: InputRecord[] = [];
  for (const [i, partition] of partitions.entries()) {
    assert.equal(partition.index, i);
    const part = await readAll(path, { format, ...options, startRow: partition.startRow, endRow: partition.endRow, startByte: partition.startByte });
    assert.deepEqual(part, full.slice(partition.startRow, partition.endRow), `partition ${i} of ${path}`);
    // The same range without the offset (rows before it are skipped) reads the same records.
    assert.deepEqual(await readAll(path, { format, ...options, startRow: partition.startRow, endRow: partition.endRow }), part);
    joined.push(...part);
  }
  assert.deepEqual(joined, full);
}

describe('detectFormat', () => {
  test('maps extensions, case-insensitively', () => {
    assert.equal(detectFormat('a/b.jsonl'), 'jsonl');
    assert.equal(detectFormat('b.NDJSON'), 'jsonl');
    assert.equal(detectFormat('b.json'), 'jsonl');
    assert.equal(detectFormat('x.csv'), 'csv');
    assert.equal(detectFormat('x.Parquet'), 'parquet');
  });
  test('refuses anything else with MP_ERR_JOB_INVALID', () => {
    for (const path of ['data.txt', 'data', 'data.csv.gz']) {
      assert.throws(() => detectFormat(path), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INVALID' && e.message.includes(path));
    }
  });
});

describe('JSONL reader', () => {
  const text = [
    '{"id":"a","x":[1,2]}',
    '',
    '   ',
    '[3,4]',
    'not json',
    '42',
    '{"id":null,"x":[5,6]}\r',
    '{"x":[7,8]}',
  ].join('\n');

  test('reads objects, bare arrays and error records, skipping blank lines', async () => {
    const path = file('a.jsonl', `\ufeff${text}`);
    const records = await readAll(path, { format: 'jsonl', idColumn: 'id' });
    assert.equal(records.length, 6);
    assert.deepEqual(records[0], { index: 0, id: 'a', fields: { id: 'a', x: [1, 2] } });
    assert.deepEqual(records[1], { index: 1, id: '1', fields: { 0: 3, 1: 4 } });
    assert.equal(records[2]!.index, 2);
    assert.match(records[2]!.error!, /^line is not valid JSON/);
    assert.equal(records[2]!.fields, undefined);
    assert.equal(records[3]!.error, 'line holds a number, expected a JSON object or array');
    assert.deepEqual(records[4], { index: 4, id: '4', fields: { id: null, x: [5, 6] } });
    assert.deepEqual(records[5], { index: 5, id: '5', fields: { x: [7, 8] } });
  });

  test('row ranges and partition offsets give the slices of a full read', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 103; i++) {
      lines.push(i % 17 === 5 ? '{broken' : JSON.stringify({ id: `r${i}`, v: [i, i * 0.5], s: 'ü€😀'.repeat(i % 3) }));
      if (i % 10 === 3) lines.push('');
    }
    const path = file('b.jsonl', `${lines.join('\r\n')}\n\n`);
    for (const rows of [1, 7, 10, 103, 500]) await checkPartitions(path, 'jsonl', rows, { idColumn: 'id' });
    const some = await readAll(path, { format: 'jsonl', startRow: 98, endRow: 1000 });
    assert.deepEqual(some.map((r) => r.index), [98, 99, 100, 101, 102]);
    assert.deepEqual(await readAll(path, { format: 'jsonl', startRow: 5, endRow: 5 }), []);
  });

  test('an overlong line becomes an error record and reading goes on', async () => {
    const path = file('c.jsonl', `{"a":1}\n{"a":"${'x'.repeat(5000)}"}\n{"a":3}`);
    const records: InputRecord[] = [];
    for await (const record of readJsonl(path, { format: 'jsonl' }, 1000)) records.push(record);
    assert.equal(records.length, 3);
    assert.equal(records[1]!.error, 'line is longer than 1000 bytes');
    assert.deepEqual(records[2]!.fields, { a: 3 });
  });

  test('an empty input has no rows and one empty partition', async () => {
    const path = file('d.jsonl', '\n\n');
    assert.deepEqual(await readAll(path, { format: 'jsonl' }), []);
    assert.deepEqual(await scanPartitions(path, 'jsonl', 10), { rows: 0, partitions: [{ index: 0, startRow: 0, endRow: 0, startByte: 0 }] });
  });

  test('a missing file fails with MP_ERR_JOB_INPUT', async () => {
    await assert.rejects(readAll(join(dir, 'nope.jsonl'), { format: 'jsonl' }), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INPUT');
    await assert.rejects(scanPartitions(join(dir, 'nope.jsonl'), 'jsonl', 5), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INPUT');
  });
});

describe('CSV reader', () => {
  test('names fields by the header; a row with the wrong field count is an error record', async () => {
    const path = file('a.csv', '\ufeffkey,a,b\r\nk1,1,"x, ""y"""\r\n\r\nk2,2\r\n,3,"multi\r\nline"\r\n');
    const records = await readAll(path, { format: 'csv', idColumn: 'key' });
    assert.deepEqual(records, [
      { index: 0, id: 'k1', fields: { key: 'k1', a: '1', b: 'x, "y"' } },
      { index: 1, id: 'k2', error: 'row has 2 fields, expected 3 (one per header column)' },
      { index: 2, id: '2', fields: { key: '', a: '3', b: 'multi\r\nline' } },
    ]);
  });

  test('partitions start at the right byte even with quoted newlines', async () => {
    const rows: string[] = ['id,"te,xt",n'];
    for (let i = 0; i < 101; i++) {
      const textCell = i % 3 === 0 ? `"line ${i}\nnext ""${i}""\n"` : i % 3 === 1 ? `plain ${i} é` : '""';
      rows.push(i % 23 === 7 ? `r${i},short` : `r${i},${textCell},${i}`);
      if (i % 9 === 0) rows.push('');
    }
    for (const newline of ['\n', '\r\n']) {
      const path = file('b.csv', rows.join(newline) + (newline === '\n' ? '' : newline));
      for (const partitionRows of [1, 4, 10, 101, 1000]) await checkPartitions(path, 'csv', partitionRows, { idColumn: 'id' });
      assert.deepEqual(await scanCsvRecords(path, 4, true), await scanCsvRecords(path, 4, false), 'fast scan = csv-parse scan');
    }
  });

  test('files the fast scanner leaves to csv-parse still partition exactly', async () => {
    // A stray quote inside an unquoted field, and a closing quote followed by text (relax_quotes).
    const lines = ['a,b'];
    for (let i = 0; i < 40; i++) lines.push(i % 5 === 0 ? `x"${i},y` : i % 7 === 0 ? `"q"z${i},w` : `${i},"v\n${i}"`);
    const path = file('c.csv', lines.join('\n'));
    for (const partitionRows of [1, 3, 16]) await checkPartitions(path, 'csv', partitionRows);
  });

  test('randomised files: the fast scanner agrees with csv-parse or hands over', async () => {
    const pieces = ['a', 'bc', '1.5', '', '"q"', '"x,y"', '"l1\nl2"', '"a""b"', '"\r\n"', 'é😀', 'x"y', '"a"b', '\r'];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 80; round++) {
      const newline = round % 3 === 0 ? '\r\n' : '\n';
      const width = 1 + random(4);
      const lines: string[] = [];
      for (let r = 0; r < 1 + random(30); r++) {
        const cells = Array.from({ length: random(5) === 0 ? random(6) : width }, () => pieces[random(pieces.length)]!);
        lines.push(cells.join(','));
      }
      const path = file('r.csv', lines.join(newline) + (random(2) === 0 ? newline : ''));
      assert.deepEqual(await scanCsvRecords(path, 2, true), await scanCsvRecords(path, 2, false), `round ${round}`);
      await checkPartitions(path, 'csv', 1 + random(5));
    }
  });

  test('a lone CR inside a row of an LF file stays field content in partition reads', async () => {
    const lines = ['a,b'];
    for (let i = 0; i < 12; i++) lines.push(`x\r${i},y`);
    const path = file('cr.csv', `${lines.join('\n')}\n`);
    await checkPartitions(path, 'csv', 3);
    assert.equal((await readAll(path, { format: 'csv', startRow: 3, endRow: 4, startByte: (await scanPartitions(path, 'csv', 3)).partitions[1]!.startByte }))[0]!.fields!['a'], 'x\r3');
  });

  test('header only, and empty file', async () => {
    const headerOnly = file('d.csv', 'a,b\n');
    assert.deepEqual(await readAll(headerOnly, { format: 'csv' }), []);
    assert.deepEqual(await scanPartitions(headerOnly, 'csv', 5), { rows: 0, partitions: [{ index: 0, startRow: 0, endRow: 0, startByte: 4 }] });
    const empty = file('e.csv', '');
    assert.deepEqual(await readAll(empty, { format: 'csv' }), []);
    assert.equal((await scanPartitions(empty, 'csv', 5)).rows, 0);
  });

  test('an unclosed quote fails the read with MP_ERR_JOB_INPUT', async () => {
    const path = file('f.csv', 'a,b\n1,"open\n2,3\n');
    await assert.rejects(readAll(path, { format: 'csv' }), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INPUT' && /cannot be parsed/.test(e.message));
    await assert.rejects(scanPartitions(path, 'csv', 1), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INPUT');
  });

  test('a "__proto__" column is an ordinary field', async () => {
    const path = file('g.csv', '__proto__,x\n1,2\n');
    const [record] = await readAll(path, { format: 'csv' });
    assert.equal(Object.getPrototypeOf(record!.fields), Object.prototype);
    assert.equal(record!.fields!['__proto__'], '1');
    assert.equal(record!.fields!['x'], '2');
  });
});

describe('Parquet reader', () => {
  const n = 45;
  const path = file('a.parquet', new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: 'key', data: Array.from({ length: n }, (_, i) => `k${i}`), type: 'STRING' },
      { name: 'a', data: Float64Array.from({ length: n }, (_, i) => i / 4), type: 'DOUBLE' },
      { name: 'big', data: Array.from({ length: n }, (_, i) => BigInt(i) ** 3n), type: 'INT64' },
      { name: 'vec', data: Array.from({ length: n }, (_, i) => [i, i + 1, i + 2]) },
    ],
    rowGroupSize: 7,
  })));

  test('reads rows with their types, across row groups', async () => {
    const records = await readAll(path, { format: 'parquet', idColumn: 'key' });
    assert.equal(records.length, n);
    assert.deepEqual(records[9], { index: 9, id: 'k9', fields: { key: 'k9', a: 2.25, big: 729n, vec: [9, 10, 11] } });
    const noId = await readAll(path, { format: 'parquet', startRow: 3, endRow: 4 });
    assert.deepEqual(noId.map((r) => r.id), ['3']);
  });

  test('row ranges and partitions from the footer', async () => {
    await checkPartitions(path, 'parquet', 10);
    await checkPartitions(path, 'parquet', 7);
    const { partitions, rows } = await scanPartitions(path, 'parquet', 20);
    assert.equal(rows, n);
    assert.deepEqual(partitions, [
      { index: 0, startRow: 0, endRow: 20 },
      { index: 1, startRow: 20, endRow: 40 },
      { index: 2, startRow: 40, endRow: 45 },
    ]);
  });

  test('a file that is not Parquet fails with MP_ERR_JOB_INPUT', async () => {
    const bad = file('bad.parquet', 'hello, world');
    await assert.rejects(readAll(bad, { format: 'parquet' }), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INPUT');
    await assert.rejects(scanPartitions(bad, 'parquet', 3), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INPUT');
  });
});

describe('reader options', () => {
  test('startByte needs startRow; counts must be non-negative integers', async () => {
    const path = file('o.jsonl', '{}\n');
    await assert.rejects(readAll(path, { format: 'jsonl', startByte: 0 }), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INVALID');
    await assert.rejects(readAll(path, { format: 'jsonl', startRow: -1 }), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INVALID');
    await assert.rejects(scanPartitions(path, 'jsonl', 0), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INVALID');
  });
});
