/**
 * A column chunk's bytes, read from the file a buffer at a time (positioned reads into one reused
 * buffer), for decoders that walk the chunk front to back. They see the bytes in buf[pos…end) and
 * ask for more with fill(); skip() passes over bytes without reading them (a page not needed).
 */

/** Reads into `into` from file position `position`; returns the bytes read (short at the end of the file). */
export type ReadAt = (into: Uint8Array, position: number) => number;

export class ChunkBytes {
  buf: Uint8Array;
  pos = 0;
  end = 0;
  /** File position of buf[end]. */
  #next: number;

  constructor(
    buffer: Uint8Array,
    readonly readAt: ReadAt,
    start: number,
    /** File position where the chunk ends. */
    readonly limit: number,
  ) {
    this.buf = buffer;
    this.#next = start;
  }

  /** File position of buf[pos]. */
  get position(): number {
    return this.#next - (this.end - this.pos);
  }

  get available(): number {
    return this.end - this.pos;
  }

  /** Bytes of the chunk not yet passed (read or not). */
  get remaining(): number {
    return this.limit - this.position;
  }

  /** Reads until at least `min` bytes (or the rest of the chunk) are available; the buffer grows if it must. */
  fill(min: number): void {
    const want = Math.min(min, this.remaining);
    if (this.available >= want) return;
    if (want > this.buf.length) {
      const grown = new Uint8Array(Math.max(want, this.buf.length * 2));
      grown.set(this.buf.subarray(this.pos, this.end));
      this.buf = grown;
    } else if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.end);
    }
    this.end -= this.pos;
    this.pos = 0;
    while (this.end < want) {
      const room = Math.min(this.buf.length - this.end, this.limit - this.#next);
      const read = this.readAt(this.buf.subarray(this.end, this.end + room), this.#next);
      if (read === 0) throw new Error(`the file ends at byte ${this.#next}, inside a column chunk that ends at byte ${this.limit}`);
      this.end += read;
      this.#next += read;
    }
  }

  /** Moves past the next `n` bytes, reading none it does not hold already. */
  skip(n: number): void {
    if (n <= this.available) {
      this.pos += n;
      return;
    }
    this.#next += n - this.available;
    this.pos = this.end = 0;
  }
}
