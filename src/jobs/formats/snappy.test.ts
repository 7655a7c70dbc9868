/**
 * snappyDecompress gives what hyparquet's own decoder gives, on data with long literals (random
 * bytes), short and overlapping back-references (runs, repeated patterns) and mixtures, and
 * refuses truncated input as it does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { snappyUncompress } from 'hyparquet';
import { snappyCompress } from 'hyparquet-writer/src/snappy.js';
import { snappyDecompress } from './snappy.js';

function reference(compressed: Uint8Array, length: number): Uint8Array {
  const output = new Uint8Array(length);
  snappyUncompress(compressed, output);
  return output;
}

test('decompresses as hyparquet does', () => {
  let seed = 5;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let round = 0; round < 60; round++) {
    const length = [0, 1, 15, 16, 17, 100, 5000, 70_000, 300_000][round % 9]!;
    const data = new Uint8Array(length);
    let i = 0;
    while (i < length) {
      const kind = random(4);
      const run = 1 + random(round % 2 === 0 ? 40 : 3000);
      for (let k = 0; k < run && i < length; k++, i++) {
        if (kind === 0) data[i] = random(256);
        else if (kind === 1) data[i] = 7;
        else if (kind === 2) data[i] = i >= 5 ? data[i - 5]! : 1;
        else data[i] = i >= 300 ? data[i - 300]! : random(256);
      }
    }
    const compressed = snappyCompress(data);
    assert.deepEqual(snappyDecompress(compressed, length), reference(compressed, length), `round ${round}`);
    assert.deepEqual(snappyDecompress(compressed, length), data);
  }
});

test('truncated input is refused', () => {
  const data = new Uint8Array(1000).map((_, i) => (i * 31) % 251);
  const compressed = snappyCompress(data);
  assert.throws(() => snappyDecompress(compressed.subarray(0, compressed.length - 10), data.length));
});
