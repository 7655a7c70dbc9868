/**
 * RowMapper: rows to batch tensors by input name, by a map of several columns, from nested
 * arrays, bare arrays and CSV cells, in each datatype family; refused rows carry a reason that
 * names the field and what was expected, and the rest of the batch goes on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isModelportError, type TensorSpec } from '../../core/index.js';
import { halfToNumber } from '../../core/index.js';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { openInput, openRowReader } from './reader.js';
import { RowMapper } from './row-mapper.js';
import type { InputRecord } from './types.js';

const rec = (index: number, fields: Record<string, unknown>): InputRecord => ({ index, id: `r${index}`, fields });
const fp32 = (name: string, ...dims: number[]): TensorSpec => ({ name, datatype: 'FP32', shape: [-1, ...dims] });

describe('RowMapper', () => {
  test('by input name: arrays, nested arrays and scalars', () => {
    const mapper = new RowMapper([fp32('x', 2, 2), { name: 'k', datatype: 'INT32', shape: [-1, 1] }]);
    const { inputs, accepted, rejected } = mapper.map([
      rec(0, { x: [[1, 2], [3, 4]], k: 7 }),
      rec(1, { x: [5, 6, 7, 8], k: [8], other: 'ignored' }),
      rec(2, { x: ['9', ' 10 ', '1e1', '-0.5'], k: '9' }),
    ]);
    assert.deepEqual(rejected, []);
    assert.equal(accepted.length, 3);
    assert.deepEqual(inputs[0], { name: 'x', datatype: 'FP32', shape: [3, 2, 2], data: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, -0.5]) });
    assert.deepEqual(inputs[1], { name: 'k', datatype: 'INT32', shape: [3, 1], data: new Int32Array([7, 8, 9]) });
  });

  test('a map concatenates several columns into one vector', () => {
    const mapper = new RowMapper([fp32('features', 3), { name: 'id', datatype: 'INT64', shape: [-1] }], { features: ['a', 'b', 'c'] });
    const { inputs, rejected } = mapper.map([rec(0, { a: '1.5', b: 2, c: [3], id: 10 }), rec(1, { a: '4', b: '5', c: '6', id: '11' })]);
    assert.deepEqual(rejected, []);
    assert.deepEqual(inputs[0]!.data, new Float32Array([1.5, 2, 3, 4, 5, 6]));
    assert.deepEqual(inputs[0]!.shape, [2, 3]);
    assert.deepEqual(inputs[1], { name: 'id', datatype: 'INT64', shape: [2], data: new BigInt64Array([10n, 11n]) });
  });

  test('a bare-array line maps to a single-input model', () => {
    const mapper = new RowMapper([fp32('input', 3)]);
    const { inputs, rejected } = mapper.map([rec(0, { ...[1, 2, 3] }), rec(1, { ...[1, 2] }), rec(2, { ...[[1], [2], [3]] })]);
    assert.deepEqual(rejected, [{ index: 1, id: 'r1', reason: 'the row has 2 values, expected 3' }]);
    assert.deepEqual(inputs[0]!.data, new Float32Array([1, 2, 3, 1, 2, 3]));
    const two = new RowMapper([fp32('a', 1), fp32('b', 1)]).map([rec(0, { ...[1, 2] })]);
    assert.match(two.rejected[0]!.reason, /^row is a bare array, but the model has 2 inputs \(a, b\)/);
  });

  test('INT64 and UINT64 keep exact values from strings, numbers and BigInts', () => {
    const mapper = new RowMapper([{ name: 'v', datatype: 'INT64', shape: [-1, 3] }, { name: 'u', datatype: 'UINT64', shape: [-1, 1] }]);
    const { inputs, rejected } = mapper.map([
      rec(0, { v: ['9223372036854775807', -5, 12n], u: '18446744073709551615' }),
      rec(1, { v: ['1.5', 1, 2], u: 1 }),
      rec(2, { v: ['9223372036854775808', 1, 2], u: 1 }),
      rec(3, { v: [1, 2, 3], u: -1 }),
      rec(4, { v: ['1e3', 2, 3], u: 0n }),
    ]);
    assert.deepEqual(inputs[0]!.data, new BigInt64Array([2n ** 63n - 1n, -5n, 12n, 1000n, 2n, 3n]));
    assert.deepEqual(inputs[1]!.data, new BigUint64Array([2n ** 64n - 1n, 0n]));
    assert.deepEqual(rejected.map((r) => [r.index, r.reason]), [
      [1, "field 'v' element 0 is '1.5', not an integer"],
      [2, "field 'v' element 0 is '9223372036854775808', not an integer in INT64's range"],
      [3, "field 'u' is -1, not an integer in UINT64's range"],
    ]);
  });

  test('wrong counts, non-numbers, NaN text, empty cells and missing fields are refused with reasons', () => {
    const mapper = new RowMapper([fp32('input', 4)]);
    const { inputs, accepted, rejected } = mapper.map([
      rec(0, { input: [1, 2, 3] }),
      rec(1, { input: [1, 2, 3, 4] }),
      rec(2, { input: [1, 'abc', 3, 4] }),
      rec(3, { input: [1, 'NaN', 3, 4] }),
      rec(4, { other: 1 }),
      rec(5, { input: [1, null, 3, 4] }),
      rec(6, { input: [1, 2, 3, 4, 5] }),
      rec(7, { input: [[1, 2], [3, true]] }),
      { index: 8, id: 'r8', error: 'line is not valid JSON: x' },
      rec(9, { input: [4, 3, 2, 1] }),
      rec(10, { input: { a: 1 } }),
      rec(11, { input: [1, 2, 3, Infinity] }),
    ]);
    assert.deepEqual(accepted.map((r) => r.index), [1, 9]);
    assert.deepEqual(inputs[0], { name: 'input', datatype: 'FP32', shape: [2, 4], data: new Float32Array([1, 2, 3, 4, 4, 3, 2, 1]) });
    assert.deepEqual(rejected.map((r) => `${r.index}: ${r.reason}`), [
      "0: field 'input' has 3 values, expected 4",
      "2: field 'input' element 1 is 'abc', not a finite number",
      "3: field 'input' element 1 is 'NaN', not a finite number",
      "4: field 'input' is missing",
      "5: field 'input' element 1 is null, expected a finite number",
      "6: field 'input' has 5 values, expected 4",
      "7: field 'input' element 3 is true, expected a finite number",
      '8: line is not valid JSON: x',
      "11: field 'input' element 3 is Infinity, not a finite number",
      "10: field 'input' is an object, expected a finite number",
    ].sort((a, b) => parseInt(a, 10) - parseInt(b, 10)));
  });

  test('mapped columns: empty cell, missing column, non-numeric cell', () => {
    const mapper = new RowMapper([fp32('x', 3)], { x: ['a', 'b', 'c'] });
    const { rejected, accepted } = mapper.map([
      rec(0, { a: '1', b: '', c: '3' }),
      rec(1, { a: '1', c: '3' }),
      rec(2, { a: '1', b: '2', c: 'x1' }),
      rec(3, { a: '1', b: '  ', c: '3' }),
      rec(4, { a: '1', b: '2', c: '3' }),
    ]);
    assert.deepEqual(accepted.map((r) => r.index), [4]);
    assert.deepEqual(rejected.map((r) => r.reason), [
      "field 'b' is empty, expected a finite number",
      "field 'b' is missing (mapped to input 'x')",
      "field 'c' is 'x1', not a finite number",
      "field 'b' is '  ', not a finite number",
    ]);
    const count = new RowMapper([fp32('x', 3)], { x: ['a', 'b'] }).map([rec(0, { a: '1', b: '2' })]);
    assert.equal(count.rejected[0]!.reason, "fields 'a', 'b' give 2 values, expected 3");
  });

  test('CSV records map through the reader\'s cells, like any other record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-formats-map-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'in.csv');
    writeFileSync(path, 'c,a,b,a\n1,2,3,4\n5,,7,8\n');
    const records: InputRecord[] = [];
    for await (const record of openRowReader(path, { format: 'csv' })) records.push(record);
    const mapper = new RowMapper([fp32('x', 3)], { x: ['a', 'b', 'c'] });
    const viaCells = mapper.map(records);
    const viaFields = mapper.map(records.map((r) => ({ ...r, fields: { ...r.fields } })));
    // A repeated header name takes the last column, in the cells as in the fields.
    assert.deepEqual(viaCells.inputs[0]!.data, new Float32Array([4, 3, 1, 8, 7, 5]));
    assert.deepEqual(viaCells, viaFields);
    assert.equal(viaCells.rejected.length, 0);
  });

  test('rows read from CSV and Parquet blocks map exactly as their plain records do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mp-formats-blocks-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const csv = join(dir, 'in.csv');
    const cells = ['1', '-2.5', '', ' 1.5', 'x', '"3"', '1e400', '0x10', '1e-3', '-0', '12345678901234567', 'NaN'];
    // f0…f9: ten float features, so that Parquet batches take the eight-columns-at-a-time path too.
    const features = Array.from({ length: 10 }, (_, k) => `f${k}`);
    const feature = (r: number, k: number): number => (r % 23 === k ? NaN : r % 29 === k ? -Infinity : r / 16 + k);
    const lines = [`id,a,b,c,n,${features.join(',')}`];
    for (let r = 0; r < 300; r++) {
      lines.push(`r${r},${cells[r % cells.length]},${cells[(r * 7) % cells.length]},${r / 4},${r % 5 === 0 ? 'q' : r},${features.map((_, k) => String(feature(r, k))).join(',')}`);
    }
    lines.push('short,1');
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const parquet = join(dir, 'in.parquet');
    const rows = 300;
    writeFileSync(parquet, new Uint8Array(parquetWriteBuffer({
      columnData: [
        { name: 'id', data: Array.from({ length: rows }, (_, r) => `p${r}`), type: 'STRING' },
        { name: 'a', data: new Float32Array(Array.from({ length: rows }, (_, r) => (r % 17 === 0 ? NaN : r / 8))), type: 'FLOAT' },
        { name: 'b', data: Array.from({ length: rows }, (_, r) => r * 0.1), type: 'DOUBLE' },
        { name: 'c', data: Array.from({ length: rows }, (_, r) => BigInt(r)), type: 'INT64' },
        { name: 'n', data: Array.from({ length: rows }, (_, r) => (r % 9 === 0 ? 'x' : String(r))), type: 'STRING' },
        // REQUIRED, so that they decode to Float32Arrays (an optional column decodes to an Array).
        ...features.map((name, k) => ({ name, data: new Float32Array(Array.from({ length: rows }, (_, r) => feature(r, k))), type: 'FLOAT' as const, nullable: false })),
      ],
      rowGroupSize: 128,
    })));
    const models: Array<[TensorSpec[], Record<string, string[]>]> = [
      [[fp32('x', 3)], { x: ['a', 'b', 'c'] }],
      [[{ name: 'x', datatype: 'FP64', shape: [-1, 2] }, { name: 'k', datatype: 'INT32', shape: [-1, 1] }], { x: ['c', 'b'], k: ['n'] }],
      [[fp32('x', 2)], { x: ['a', 'missing'] }],
      // Only FLOAT and DOUBLE columns: Parquet batches are read a column at a time, NaN rows refused.
      [[fp32('x', 2)], { x: ['b', 'a'] }],
      // Eight FLOAT columns at a time, out of file order, then two more one by one.
      [[fp32('x', 10)], { x: ['f7', 'f2', 'f0', 'f9', 'f4', 'f1', 'f8', 'f3', 'f5', 'f6'] }],
      // A DOUBLE column among the first eight: those go one by one, and the eight after it together.
      [[fp32('x', 17)], { x: ['f0', 'f1', 'f2', 'b', 'f3', 'f4', 'f5', 'f6', 'f9', 'f8', 'f7', 'f6', 'f5', 'f4', 'f3', 'f2', 'f1'] }],
    ];
    for (const [path, format] of [[csv, 'csv'], [parquet, 'parquet']] as const) {
      const source = await openInput(path, { format, idColumn: 'id' });
      const blocks: InputRecord[] = [];
      for await (const block of source.read({ startRow: 0 })) blocks.push(...block);
      await source.close();
      const plain: InputRecord[] = [];
      for await (const record of openRowReader(path, { format, idColumn: 'id' })) plain.push(record);
      assert.equal(blocks.length, plain.length);
      for (const [inputs, map] of models) {
        const mapper = new RowMapper(inputs, map);
        // Batches inside one row group (read a column at a time) and batches across two (row by row).
        for (const first of [0, 37]) {
          for (let from = first; from < plain.length; from += 64) {
            const viaBlocks = mapper.map(blocks.slice(from, from + 64));
            const viaPlain = mapper.map(plain.slice(from, from + 64));
            assert.deepEqual(viaBlocks.inputs, viaPlain.inputs, `${format} ${Object.keys(map)} rows ${from}…`);
            assert.deepEqual(viaBlocks.rejected, viaPlain.rejected);
            assert.deepEqual(viaBlocks.accepted.map((r) => [r.index, r.id]), viaPlain.accepted.map((r) => [r.index, r.id]));
          }
        }
      }
    }
  });

  test('datatypes: BOOL, small ints with ranges, FP16, BF16, FP64, BYTES', () => {
    const mapper = new RowMapper([
      { name: 'b', datatype: 'BOOL', shape: [-1, 4] },
      { name: 'u8', datatype: 'UINT8', shape: [-1, 2] },
      { name: 'h', datatype: 'FP16', shape: [-1, 2] },
      { name: 'bf', datatype: 'BF16', shape: [-1, 1] },
      { name: 'd', datatype: 'FP64', shape: [-1, 1] },
      { name: 's', datatype: 'BYTES', shape: [-1, 2] },
    ]);
    const { inputs, rejected } = mapper.map([
      rec(0, { b: [true, 0, 'false', '1'], u8: [0, 255], h: [1, -2.5], bf: 1.5, d: 0.1, s: ['hé', 5] }),
      rec(1, { b: [true, 2, true, true], u8: [0, 1], h: [1, 1], bf: 1, d: 1, s: ['a', 'b'] }),
      rec(2, { b: [true, true, true, true], u8: [0, 256], h: [1, 1], bf: 1, d: 1, s: ['a', 'b'] }),
      rec(3, { b: [true, true, true, true], u8: [0, 1], h: [1, 1], bf: 1, d: 1, s: ['a', {}] }),
    ]);
    assert.deepEqual(rejected.map((r) => r.reason), [
      "field 'b' element 1 is 2, not a boolean (true/false or 1/0)",
      "field 'u8' element 1 is 256, not an integer in UINT8's range 0..255",
      "field 's' element 1 is an object, expected a string",
    ]);
    assert.deepEqual(inputs[0]!.data, new Uint8Array([1, 0, 0, 1]));
    assert.deepEqual(inputs[1]!.data, new Uint8Array([0, 255]));
    assert.deepEqual(Array.from(inputs[2]!.data as Uint16Array, halfToNumber), [1, -2.5]);
    assert.deepEqual(inputs[3]!.data, new Uint16Array([0x3fc0]));
    assert.deepEqual(inputs[4]!.data, new Float64Array([0.1]));
    assert.deepEqual(inputs[5]!.data, [new TextEncoder().encode('hé'), new TextEncoder().encode('5')]);
  });

  test('dynamic dimensions take the batch\'s first row\'s size', () => {
    const mapper = new RowMapper([{ name: 'tokens', datatype: 'INT32', shape: [-1, -1] }]);
    const { inputs, rejected } = mapper.map([rec(0, { tokens: [1, 2, 3] }), rec(1, { tokens: [4, 5] }), rec(2, { tokens: [6, 7, 8] })]);
    assert.deepEqual(inputs[0], { name: 'tokens', datatype: 'INT32', shape: [2, 3], data: new Int32Array([1, 2, 3, 6, 7, 8]) });
    assert.deepEqual(rejected.map((r) => r.reason), ["field 'tokens' has values of shape [2], but this batch's rows have [3]"]);
    const image = new RowMapper([{ name: 'img', datatype: 'FP32', shape: [-1, -1, -1] }]).map([rec(0, { img: [[1, 2], [3, 4], [5, 6]] })]);
    assert.deepEqual(image.inputs[0]!.shape, [1, 3, 2]);
  });

  test('an empty or fully refused batch gives zero-row tensors', () => {
    const mapper = new RowMapper([fp32('x', 2)]);
    for (const records of [[], [rec(0, {})]]) {
      const { inputs, accepted } = mapper.map(records);
      assert.equal(accepted.length, 0);
      assert.deepEqual(inputs[0], { name: 'x', datatype: 'FP32', shape: [0, 2], data: new Float32Array(0) });
    }
  });

  test('a model that does not batch maps one row to the spec\'s own shape', () => {
    const mapper = new RowMapper([{ name: 'x', datatype: 'FP32', shape: [1, 2] }], undefined, { batched: false });
    assert.deepEqual(mapper.map([rec(0, { x: [3, 4] })]).inputs[0]!.shape, [1, 2]);
    assert.throws(() => mapper.map([rec(0, { x: [3, 4] }), rec(1, { x: [3, 4] })]), (e: unknown) => isModelportError(e));
  });

  test('a map naming an unknown input is refused when the mapper is built', () => {
    assert.throws(() => new RowMapper([fp32('x', 1)], { y: ['a'] }), (e: unknown) => isModelportError(e) && e.code === 'MP_ERR_JOB_INVALID' && /'y'.*inputs: x/.test(e.message));
    assert.throws(() => new RowMapper([fp32('x', 1)], { x: [] }), /one or more field names/);
  });
});
