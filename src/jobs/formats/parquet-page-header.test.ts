/**
 * Page headers of pyarrow's and hyparquet-writer's files: walking a column chunk header by header
 * lands exactly on its end, the data pages hold the chunk's values, and each page's kind and
 * encoding are the ones its writer was asked for. A header cut short asks for more bytes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { Encoding, PageType, readPageHeader, ShortHeader, type PageHeader } from './parquet-page-header.js';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', '..', 'test', 'fixtures', 'parquet');

/** Every page header of every column chunk of the file. */
function walk(bytes: Uint8Array): Array<{ column: string; pages: PageHeader[]; values: number }> {
  const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer);
  const chunks: Array<{ column: string; pages: PageHeader[]; values: number }> = [];
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data!;
      let at = Number(meta.dictionary_page_offset || meta.data_page_offset);
      const end = at + Number(meta.total_compressed_size);
      const pages: PageHeader[] = [];
      while (at < end) {
        const { header, length } = readPageHeader(bytes, at, end);
        pages.push(header);
        at += length + header.compressedSize;
      }
      assert.equal(at, end, `${meta.path_in_schema.join('.')}: pages end where the chunk does`);
      const values = pages.filter((p) => p.type === PageType.DATA || p.type === PageType.DATA_V2).reduce((sum, p) => sum + p.numValues, 0);
      assert.equal(values, Number(meta.num_values));
      chunks.push({ column: meta.path_in_schema.join('.'), pages, values });
    }
  }
  return chunks;
}

test('pyarrow pages: version 1 and 2, dictionaries, levels', () => {
  const v1 = walk(readFileSync(join(FIXTURES, 'v1-optional.parquet')));
  assert.ok(v1.some((c) => c.pages.length > 2), 'several pages per chunk');
  for (const { pages } of v1) {
    for (const page of pages) {
      assert.equal(page.type, PageType.DATA);
      assert.equal(page.encoding, Encoding.PLAIN);
      assert.equal(page.definitionEncoding, Encoding.RLE);
    }
  }
  for (const { pages } of walk(readFileSync(join(FIXTURES, 'v2-optional.parquet')))) {
    for (const page of pages) {
      assert.equal(page.type, PageType.DATA_V2);
      assert.equal(page.repetitionBytes, 0);
    }
  }
  const dictionary = walk(readFileSync(join(FIXTURES, 'dictionary.parquet')));
  assert.ok(dictionary.every((c) => c.pages[0]!.type === PageType.DICTIONARY));
  assert.ok(dictionary.some((c) => c.pages.some((p) => p.type === PageType.DATA && p.encoding !== Encoding.PLAIN)));
});

test('hyparquet-writer pages: version 2, levels before the values only where there are nulls to say', () => {
  const bytes = parquetWriteBuffer({
    columnData: [
      { name: 'x', data: [1.5, null, 2.5, 3.5], type: 'DOUBLE' },
      { name: 'y', data: new Float32Array([1, 2, 3, 4]), type: 'FLOAT', nullable: false },
    ],
    codec: 'UNCOMPRESSED',
  });
  const [x, y] = walk(new Uint8Array(bytes));
  assert.ok(x!.pages[0]!.definitionBytes > 0);
  assert.equal(y!.pages[0]!.definitionBytes, 0);
  assert.equal(y!.pages[0]!.numValues, 4);
});

test('a header cut short throws ShortHeader, the caller reads more', () => {
  const bytes = readFileSync(join(FIXTURES, 'v1-optional.parquet'));
  const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer);
  const at = Number(metadata.row_groups[0]!.columns[0]!.meta_data!.data_page_offset);
  const { length } = readPageHeader(bytes, at, at + 1000);
  for (let cut = 0; cut < length; cut++) assert.throws(() => readPageHeader(bytes, at, at + cut), ShortHeader);
});
