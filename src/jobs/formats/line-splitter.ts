/**
 * Splits a byte stream into lines without decoding it, keeping each line's absolute byte offset:
 * JSONL reading and partition scanning share it, so a scan's offsets always land where the reader
 * starts a row. Lines are handed out as (buffer, start, end) views; only a line that straddles two
 * chunks is copied. A line longer than the limit is reported as oversized and its bytes dropped,
 * so one runaway line (a file that is not JSONL at all) cannot take the process's memory.
 */

/** Receives one line: bytes [start, end) of buf (newline excluded) beginning at `offset` in the file. */
export type LineSink = (buf: Buffer, start: number, end: number, offset: number, oversized: boolean) => void;

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/** Longest line kept: far above any sane JSONL row, far below what would hurt the process. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export class LineSplitter {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private carryOffset = 0;
  /** The line being carried already went over the limit: its bytes are being dropped. */
  private carryOversized = false;
  /** File offset of the next byte pushed. */
  private position: number;

  constructor(startOffset: number, private readonly maxLineBytes: number = MAX_LINE_BYTES) {
    this.position = startOffset;
  }

  push(chunk: Buffer, sink: LineSink): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline < 0) break;
      if (this.carryBytes > 0 || this.carryOversized) {
        this.finishCarried(chunk.subarray(start, newline), sink);
      } else if (newline - start > this.maxLineBytes) {
        sink(EMPTY, 0, 0, this.position + start, true);
      } else {
        sink(chunk, start, newline, this.position + start, false);
      }
      start = newline + 1;
    }
    if (start < chunk.length) this.keep(chunk.subarray(start), this.position + start);
    this.position += chunk.length;
  }

  /** Hands out the last line when the input does not end with a newline. */
  end(sink: LineSink): void {
    if (this.carryBytes > 0 || this.carryOversized) this.finishCarried(EMPTY, sink);
  }

  private keep(piece: Buffer, offset: number): void {
    if (this.carryBytes === 0 && !this.carryOversized) this.carryOffset = offset;
    if (this.carryOversized) return;
    if (this.carryBytes + piece.length > this.maxLineBytes) {
      this.carry = [];
      this.carryBytes = 0;
      this.carryOversized = true;
      return;
    }
    // Copied: the stream may reuse or keep alive the chunk it came from.
    this.carry.push(Buffer.from(piece));
    this.carryBytes += piece.length;
  }

  private finishCarried(tail: Buffer, sink: LineSink): void {
    if (this.carryOversized || this.carryBytes + tail.length > this.maxLineBytes) {
      sink(EMPTY, 0, 0, this.carryOffset, true);
    } else {
      const line = Buffer.concat([...this.carry, tail], this.carryBytes + tail.length);
      sink(line, 0, line.length, this.carryOffset, false);
    }
    this.carry = [];
    this.carryBytes = 0;
    this.carryOversized = false;
  }
}

/**
 * Where a JSONL line's content starts, or -1 when the line holds nothing but whitespace (such
 * lines are not rows). A UTF-8 byte order mark at the very start of the file is skipped.
 */
export function jsonlContentStart(buf: Buffer, start: number, end: number, offset: number): number {
  let i = start;
  if (offset === 0 && end - start >= 3 && buf[i] === 0xef && buf[i + 1] === 0xbb && buf[i + 2] === 0xbf) i += 3;
  for (; i < end; i++) {
    const byte = buf[i];
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return i;
  }
  return -1;
}
