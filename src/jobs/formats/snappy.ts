/**
 * Snappy decompression for Parquet pages, handed to hyparquet as its SNAPPY decompressor. The
 * format is hyparquet's own (snappyjs's) decoder's, and so are the checks; the difference is how
 * bytes move: hyparquet copies every literal and back-reference a byte at a time in JavaScript,
 * which made decompression most of a Parquet job's reading time (numeric columns are mostly long
 * literals: random-looking float bits do not compress). Here long literals and back-references
 * that do not overlap their own output are block copies (set / copyWithin, i.e. memcpy); those of
 * 8 bytes or fewer (most of them in a FLOAT column: ~4 bytes on average) are two 32-bit word moves;
 * the rest, and overlapping copies, keep the byte loop.
 */

/** Below this many bytes a JavaScript loop beats the call into a block copy. */
const BLOCK_COPY_BYTES = 16;
const WORD_MASK = [0, 0xff, 0xffff, 0xffffff, 0xffffffff];

/** A literal longer than 60 bytes: its length, from the 1 to 4 bytes at input[pos…] that follow its tag. */
export function longLiteralLength(input: Uint8Array, pos: number, lengthBytes: number): number {
  return (((input[pos]! + (input[pos + 1]! << 8) + (input[pos + 2]! << 16) + (input[pos + 3]! << 24)) & WORD_MASK[lengthBytes]!) >>> 0) + 1;
}

/** Decompresses `input` into `into` (outputLength bytes, fresh when not given). */
export function snappyDecompress(input: Uint8Array, outputLength: number, into?: Uint8Array): Uint8Array {
  const output = into ?? new Uint8Array(outputLength);
  if (output.length !== outputLength) throw new Error(`snappy output buffer holds ${output.length} bytes, the page ${outputLength}`);
  const inputLength = input.length;
  // Short literals and copies move as two 32-bit words where 8 bytes fit on both sides.
  const inputWords = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const outputWords = new DataView(output.buffer, output.byteOffset, output.byteLength);
  const inputWordEnd = inputLength - 8;
  const outputWordEnd = outputLength - 8;
  let pos = 0;
  let out = 0;
  // The preamble: the uncompressed length as a varint (the page header already says it).
  while (pos < inputLength) {
    const c = input[pos++]!;
    if (c < 128) break;
  }
  if (outputLength > 0 && pos >= inputLength) throw new Error('invalid snappy length header');
  while (pos < inputLength) {
    const c = input[pos++]!;
    if (pos >= inputLength) throw new Error('missing eof marker');
    if ((c & 0x3) === 0) {
      let length = (c >>> 2) + 1;
      if (length <= 8 && pos <= inputWordEnd && out <= outputWordEnd) {
        // What lands past the literal's end is output the next elements write over.
        outputWords.setUint32(out, inputWords.getUint32(pos, true), true);
        outputWords.setUint32(out + 4, inputWords.getUint32(pos + 4, true), true);
        pos += length;
        out += length;
        continue;
      }
      if (length > 60) {
        if (pos + 3 >= inputLength) throw new Error('snappy error literal pos + 3 >= inputLength');
        const lengthBytes = length - 60;
        length = longLiteralLength(input, pos, lengthBytes);
        pos += lengthBytes;
      }
      if (pos + length > inputLength) throw new Error('snappy error literal exceeds input length');
      if (out + length > outputLength) throw new Error('snappy output exceeds the page size');
      if (length >= BLOCK_COPY_BYTES) {
        output.set(input.subarray(pos, pos + length), out);
      } else {
        for (let i = 0; i < length; i++) output[out + i] = input[pos + i]!;
      }
      pos += length;
      out += length;
      continue;
    }
    let length: number;
    let offset: number;
    switch (c & 0x3) {
      case 1:
        length = ((c >>> 2) & 0x7) + 4;
        offset = input[pos]! + ((c >>> 5) << 8);
        pos++;
        break;
      case 2:
        if (inputLength <= pos + 1) throw new Error('snappy error end of input');
        length = (c >>> 2) + 1;
        offset = input[pos]! + (input[pos + 1]! << 8);
        pos += 2;
        break;
      default:
        if (inputLength <= pos + 3) throw new Error('snappy error end of input');
        length = (c >>> 2) + 1;
        offset = (input[pos]! + (input[pos + 1]! << 8) + (input[pos + 2]! << 16) + (input[pos + 3]! << 24)) >>> 0;
        pos += 4;
        break;
    }
    if (offset === 0) throw new Error(`invalid offset ${offset} pos ${pos} inputLength ${inputLength}`);
    if (offset > out) throw new Error('cannot copy from before start of buffer');
    if (out + length > outputLength) throw new Error('snappy output exceeds the page size');
    const from = out - offset;
    if (length <= 8 && offset >= 8 && out <= outputWordEnd) {
      outputWords.setUint32(out, outputWords.getUint32(from, true), true);
      outputWords.setUint32(out + 4, outputWords.getUint32(from + 4, true), true);
    } else if (length >= BLOCK_COPY_BYTES && offset >= length) {
      output.copyWithin(out, from, from + length);
    } else {
      // Overlapping copies repeat the bytes just written: byte by byte, in order.
      for (let i = 0; i < length; i++) output[out + i] = output[from + i]!;
    }
    out += length;
  }
  if (out !== outputLength) throw new Error('premature end of input');
  return output;
}
