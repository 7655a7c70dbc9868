/**
 * The streaming Snappy decoder gives the bytes the whole-page decoder gives, however the page is cut
 * by read buffers and takes (down to a few bytes each), for literals long and short and copies
 * near and far (overlapping ones included); a truncated or overlong page is an error, and a
 * back-reference beyond the history it keeps says so (StreamUnsupported) rather than guessing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { snappyCompress } from 'hyparquet-writer/src/snappy.js';
import { ChunkBytes } from './chunk-bytes.js';
import { RawPageBytes, SNAPPY_RING_BYTES, SnappyPageBytes, StreamUnsupported, takeExactly } from './page-bytes.js';
import { snappyDecompress } from './snappy.js';

/** A chunk over `bytes` as if they were a file, read `readBytes` at a time. */
function chunkOver(bytes: Uint8Array, readBytes: number): ChunkBytes {
  const readAt = (into: Uint8Array, position: number): number => {
    const n = Math.min(into.length, bytes.length - position);
    into.set(bytes.subarray(position, position + n));
    return n;
  };
  return new ChunkBytes(new Uint8Array(readBytes), readAt, 0, bytes.length);
}

function streamed(compressed: Uint8Array, length: number, readBytes: number, takeBytes: number): Uint8Array {
  const page = new SnappyPageBytes(chunkOver(compressed, readBytes), new Uint8Array(SNAPPY_RING_BYTES), compressed.length, length);
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += takeBytes) takeExactly(page, out, at, Math.min(takeBytes, length - at));
  assert.equal(page.left, 0);
  return out;
}

/** Deterministic inputs of several shapes. */
function inputs(): Array<[string, Uint8Array]> {
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const noise = new Uint8Array(300_000).map(() => Math.floor(random() * 256));
  const floats = new Uint8Array(new Float32Array(100_000).map(() => (Math.floor(random() * 2001) - 1000) / 1000).buffer);
  const runs = new Uint8Array(200_000).map((_, i) => Math.floor(i / 1000) % 3);
  const text = new TextEncoder().encode('modelport batch '.repeat(20_000));
  const mixed = new Uint8Array(250_000);
  for (let i = 0; i < mixed.length; i += 5000) mixed.set(i % 10_000 === 0 ? noise.subarray(i, i + 5000) : text.subarray(0, 5000), i);
  return [['random bytes', noise], ['FLOAT features', floats], ['runs', runs], ['repeated text', text], ['mixed', mixed], ['tiny', new Uint8Array([1, 2, 3])], ['empty', new Uint8Array(0)]];
}

test('streamed Snappy equals the whole-page decoder, however the page is cut', () => {
  for (const [name, input] of inputs()) {
    const compressed = snappyCompress(input);
    const whole = snappyDecompress(compressed, input.length);
    assert.deepEqual(whole, input);
    for (const [readBytes, takeBytes] of [[32 * 1024, 16 * 1024], [7, 3], [1000, 65_536], [100_000, 1]] as const) {
      if (takeBytes === 1 && input.length > 50_000) continue;
      const got = streamed(compressed, input.length, readBytes, takeBytes);
      assert.ok(Buffer.from(got).equals(Buffer.from(input)), `${name}, reads of ${readBytes}, takes of ${takeBytes}`);
    }
  }
});

test('a truncated, overlong or corrupt Snappy page is an error', () => {
  const input = new TextEncoder().encode('abcdefgh'.repeat(10_000));
  const compressed = snappyCompress(input);
  assert.throws(() => streamed(compressed.subarray(0, compressed.length - 3), input.length, 1024, 4096), /ends before its output is complete|runs past the page/);
  assert.throws(() => streamed(compressed, input.length - 10, 1024, 4096), /exceeds the page size|holds bytes after/);
  // A copy before any output.
  assert.throws(() => streamed(new Uint8Array([10, 0b0000_0101, 1]), 10, 64, 10), /points before the page's start/);
});

test('a back-reference beyond the 64 KiB kept is StreamUnsupported', () => {
  // 140,000 literal bytes, then a copy of 64 bytes from 140,000 back: the ring has slid past them.
  const length = 140_064;
  const bytes: number[] = [];
  for (let n = length; ; n = Math.floor(n / 128)) {
    bytes.push((n & 0x7f) | (n >= 128 ? 0x80 : 0));
    if (n < 128) break;
  }
  const literal = 140_000 - 1;
  bytes.push(62 << 2, literal & 0xff, (literal >> 8) & 0xff, (literal >> 16) & 0xff);
  for (let i = 0; i < 140_000; i++) bytes.push(i % 251);
  bytes.push((63 << 2) | 3, 140_000 & 0xff, (140_000 >> 8) & 0xff, (140_000 >> 16) & 0xff, 0);
  const compressed = new Uint8Array(bytes);
  assert.throws(() => streamed(compressed, length, 32 * 1024, 16 * 1024), StreamUnsupported);
  const whole = snappyDecompress(compressed, length);
  assert.deepEqual(whole.subarray(140_000), whole.subarray(0, 64));
});

test('an uncompressed page is the chunk bytes, in place or copied', () => {
  const bytes = new Uint8Array(10_000).map((_, i) => i % 256);
  const page = new RawPageBytes(chunkOver(bytes, 333), 9000);
  const out = new Uint8Array(9000);
  let at = 0;
  while (at < 9000) {
    const n = page.ready();
    if (n === 0) {
      page.more();
      continue;
    }
    // Half in place, half through take().
    const half = Math.max(1, Math.floor(n / 2));
    out.set(page.bytes.subarray(page.at, page.at + half), at);
    page.skip(half);
    at += half;
    if (at < 9000) at += page.take(out, at, Math.min(10, 9000 - at));
  }
  assert.deepEqual(out, bytes.subarray(0, 9000));
  assert.equal(page.left, 0);
});
