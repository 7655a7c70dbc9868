/**
 * The bytes of a page's values, handed out a piece at a time as a column decoder asks for them:
 * straight from the chunk for an uncompressed page, or decompressed as needed for a Snappy one.
 * A streaming decoder never holds a whole page, only its read buffer and, for Snappy, a ring of
 * the last 64 KiB it produced (what a back-reference may point at: writers compress a page in
 * blocks of 64 KiB, so no offset reaches further; one that does makes the page unsupported here and
 * the reader decodes it the whole-page way).
 */
import type { ChunkBytes } from './chunk-bytes.js';
import { longLiteralLength } from './snappy.js';

/** A page (or a file) the streaming decoder does not read; the caller decodes it another way. */
export class StreamUnsupported extends Error {}

export interface PageBytes {
  /** Bytes not yet taken. */
  readonly left: number;
  /** Copies up to n bytes to dst[at…]; returns how many (0: call more() first). */
  take(dst: Uint8Array, at: number, n: number): number;
  /**
   * How many of the next bytes are at hand (0: call more() first), as bytes[at…at + n): a decoder
   * may read them in place and then skip() past what it used.
   */
  ready(): number;
  readonly bytes: Uint8Array;
  readonly at: number;
  skip(n: number): void;
  /** Reads more of the chunk. */
  more(): void;
}

/** Reads exactly n bytes into dst[at…]. */
export function takeExactly(bytes: PageBytes, dst: Uint8Array, at: number, n: number): void {
  if (n > bytes.left) throw new Error(`a page holds ${bytes.left} more bytes of values, ${n} were needed`);
  let done = 0;
  while (done < n) {
    const got = bytes.take(dst, at + done, n - done);
    if (got === 0) bytes.more();
    done += got;
  }
}

/** An uncompressed page's values: the chunk's own bytes. */
export class RawPageBytes implements PageBytes {
  left: number;

  constructor(
    readonly chunk: ChunkBytes,
    length: number,
  ) {
    this.left = length;
  }

  take(dst: Uint8Array, at: number, n: number): number {
    const chunk = this.chunk;
    const k = Math.min(n, this.left, chunk.available);
    dst.set(chunk.buf.subarray(chunk.pos, chunk.pos + k), at);
    chunk.pos += k;
    this.left -= k;
    return k;
  }

  ready(): number {
    return Math.min(this.left, this.chunk.available);
  }

  get bytes(): Uint8Array {
    return this.chunk.buf;
  }

  get at(): number {
    return this.chunk.pos;
  }

  skip(n: number): void {
    this.chunk.pos += n;
    this.left -= n;
  }

  more(): void {
    this.chunk.fill(Math.min(this.left, this.chunk.buf.length));
  }
}

/** Bytes of output a back-reference may reach back over. */
const SNAPPY_HISTORY = 65_536;
/** The decoder's ring: history plus room to decode into between slides. */
export const SNAPPY_RING_BYTES = 2 * SNAPPY_HISTORY;
/** A copy element writes at most 64 bytes; a literal's header is at most 5 bytes. */
const MAX_COPY = 64;
const MAX_TAG = 5;

/** A Snappy-compressed page's values, decompressed into a ring as they are taken. */
export class SnappyPageBytes implements PageBytes {
  left: number;
  /** Compressed bytes of the page not yet consumed from the chunk. */
  #input: number;
  /** Bytes of output still to decode. */
  #output: number;
  /** Bytes of the current literal still to copy. */
  #literal = 0;
  #preamble = true;
  /** Ring positions: output decoded up to w, taken up to r. */
  #r = 0;
  #w = 0;
  /** Output produced before ring position 0 (bytes slid out). */
  #slid = 0;

  readonly #ringWords: DataView;

  constructor(
    readonly chunk: ChunkBytes,
    readonly ring: Uint8Array,
    compressedLength: number,
    uncompressedLength: number,
  ) {
    this.#ringWords = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
    this.#input = compressedLength;
    this.#output = uncompressedLength;
    this.left = uncompressedLength;
  }

  take(dst: Uint8Array, at: number, n: number): number {
    if (this.#r === this.#w) this.#decode();
    const k = Math.min(n, this.#w - this.#r);
    if (k > 0) {
      dst.set(this.ring.subarray(this.#r, this.#r + k), at);
      this.#r += k;
      this.left -= k;
    }
    return k;
  }

  ready(): number {
    if (this.#r === this.#w) this.#decode();
    return this.#w - this.#r;
  }

  get bytes(): Uint8Array {
    return this.ring;
  }

  get at(): number {
    return this.#r;
  }

  skip(n: number): void {
    this.#r += n;
    this.left -= n;
  }

  more(): void {
    const chunk = this.chunk;
    // Enough for the next element's header, or a good piece of a literal.
    chunk.fill(Math.min(this.#input, Math.max(chunk.available + MAX_TAG, chunk.buf.length)));
  }

  /** Decodes what the bytes at hand allow, into the ring's free room. */
  #decode(): void {
    const ring = this.ring;
    if (ring.length - this.#w < MAX_COPY + SNAPPY_HISTORY / 2) {
      // Keep the last 64 KiB (back-references) and anything not yet taken.
      const keep = Math.max(0, Math.min(this.#r, this.#w - SNAPPY_HISTORY));
      ring.copyWithin(0, keep, this.#w);
      this.#r -= keep;
      this.#w -= keep;
      this.#slid += keep;
    }
    const chunk = this.chunk;
    const input = chunk.buf;
    const start = chunk.pos;
    // The page's compressed bytes at hand are input[start…end); the page goes on past them when
    // end < pageEnd. Below safeEnd an element's header is whole without checking.
    const pageEnd = start + this.#input;
    const end = Math.min(chunk.end, pageEnd);
    const safeEnd = end - MAX_TAG;
    const room = ring.length - MAX_COPY;
    const slid = this.#slid;
    // Short literals and copies move as two 32-bit words (see below).
    const inputWords = new DataView(input.buffer, input.byteOffset, input.byteLength);
    const ringWords = this.#ringWords;
    const wordEnd = end - 8;
    let pos = start;
    let w = this.#w;
    let literal = this.#literal;
    let output = this.#output;
    try {
      if (this.#preamble) {
        // The uncompressed length as a varint (the page header already says it).
        while (pos < end && input[pos]! >= 0x80) pos++;
        if (pos === end) {
          if (end === pageEnd) throw new Error('a Snappy page ends inside its length');
          return;
        }
        pos++;
        this.#preamble = false;
      }
      while (output > 0) {
        if (literal > 0) {
          // (The rest of) a literal.
          const k = Math.min(literal, end - pos, ring.length - w);
          if (k === 0) return;
          if (k >= 16) ring.set(input.subarray(pos, pos + k), w);
          else for (let i = 0; i < k; i++) ring[w + i] = input[pos + i]!;
          pos += k;
          w += k;
          literal -= k;
          output -= k;
          continue;
        }
        if (w > room) return;
        if (pos >= safeEnd) {
          // Near the end of the bytes at hand: wait for more unless the page ends here.
          if (end < pageEnd) return;
          if (pos >= end) throw new Error('a Snappy page ends before its output is complete');
        }
        const c = input[pos]!;
        const kind = c & 0x3;
        if (kind === 0) {
          let length = (c >>> 2) + 1;
          pos++;
          if (length <= 8 && pos <= wordEnd && length <= output) {
            // Most literals in numeric columns are a few bytes: two word moves beat a byte loop
            // (what lands past the literal's end is room the next elements write over).
            ringWords.setUint32(w, inputWords.getUint32(pos, true), true);
            ringWords.setUint32(w + 4, inputWords.getUint32(pos + 4, true), true);
            pos += length;
            w += length;
            output -= length;
            continue;
          }
          if (length > 60) {
            const lengthBytes = length - 60;
            if (pos + lengthBytes > end) throw new Error('a Snappy literal length runs past the page');
            length = longLiteralLength(input, pos, lengthBytes);
            pos += lengthBytes;
          }
          if (length > output) throw new Error('Snappy output exceeds the page size');
          // Copied by the branch above, as far as the bytes at hand and the ring's room allow.
          literal = length;
          continue;
        }
        let length: number;
        let offset: number;
        if (kind === 1) {
          if (pos + 2 > end) throw new Error('a Snappy copy runs past the page');
          length = ((c >>> 2) & 0x7) + 4;
          offset = input[pos + 1]! + ((c >>> 5) << 8);
          pos += 2;
        } else if (kind === 2) {
          if (pos + 3 > end) throw new Error('a Snappy copy runs past the page');
          length = (c >>> 2) + 1;
          offset = input[pos + 1]! + (input[pos + 2]! << 8);
          pos += 3;
        } else {
          if (pos + 5 > end) throw new Error('a Snappy copy runs past the page');
          length = (c >>> 2) + 1;
          offset = (input[pos + 1]! + (input[pos + 2]! << 8) + (input[pos + 3]! << 16) + (input[pos + 4]! << 24)) >>> 0;
          pos += 5;
        }
        if (offset > w) {
          if (offset > slid + w) throw new Error(`a Snappy back-reference (offset ${offset}) points before the page's start`);
          throw new StreamUnsupported(`a Snappy back-reference reaches ${offset} bytes back, beyond the ${SNAPPY_HISTORY} kept`);
        }
        if (offset === 0) throw new Error('a Snappy back-reference of offset 0');
        if (length > output) throw new Error('Snappy output exceeds the page size');
        const from = w - offset;
        if (length <= 8 && offset >= 8) {
          // The usual copy (4 to 8 bytes, not overlapping itself): two word moves.
          ringWords.setUint32(w, ringWords.getUint32(from, true), true);
          ringWords.setUint32(w + 4, ringWords.getUint32(from + 4, true), true);
        } else if (length >= 16 && offset >= length) ring.copyWithin(w, from, from + length);
        else for (let i = 0; i < length; i++) ring[w + i] = ring[from + i]!;
        w += length;
        output -= length;
      }
      // Bytes past the end of the output: a malformed page.
      if (pos < pageEnd) throw new Error('a Snappy page holds bytes after its output is complete');
    } finally {
      this.#input -= pos - start;
      chunk.pos = pos;
      this.#w = w;
      this.#literal = literal;
      this.#output = output;
    }
  }
}
