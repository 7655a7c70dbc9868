/**
 * Parquet page headers (Thrift compact protocol), read by the streaming column decoder, which
 * walks a column chunk page by page from its own small read buffer: hyparquet's header reader is
 * internal to its column decoding. Only the fields a flat PLAIN column needs are kept; every other
 * field (statistics, CRC, index pages' contents) is skipped by its wire type.
 */

export const PageType = { DATA: 0, INDEX: 1, DICTIONARY: 2, DATA_V2: 3 } as const;
export const Encoding = { PLAIN: 0, RLE: 3 } as const;

export interface PageHeader {
  type: number;
  uncompressedSize: number;
  compressedSize: number;
  /** Values in the page (levels included: nulls count). */
  numValues: number;
  /** The values' encoding (PLAIN = 0). */
  encoding: number;
  /** Version 1 data pages: how the definition levels are encoded. */
  definitionEncoding: number;
  /** Version 2 data pages: the levels' byte lengths (they precede the values, never compressed). */
  definitionBytes: number;
  repetitionBytes: number;
  /** Version 2: whether the values section is compressed (true unless the header says otherwise). */
  compressed: boolean;
}

/** Thrift compact types. */
const T = { TRUE: 1, FALSE: 2, BYTE: 3, I16: 4, I32: 5, I64: 6, DOUBLE: 7, BINARY: 8, LIST: 9, SET: 10, MAP: 11, STRUCT: 12 } as const;

/** Thrown when the bytes end inside the header: the caller reads more and tries again. */
export class ShortHeader extends Error {}

class Cursor {
  constructor(
    readonly bytes: Uint8Array,
    public at: number,
    readonly end: number,
  ) {}

  byte(): number {
    if (this.at >= this.end) throw new ShortHeader('page header continues past the bytes read');
    return this.bytes[this.at++]!;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      // Past 2^53 precision is lost; such sizes never fit in a file anyway.
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error('malformed varint in a Parquet page header');
    }
  }

  zigzag(): number {
    const n = this.varint();
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  skipBytes(n: number): void {
    if (this.at + n > this.end) throw new ShortHeader('page header continues past the bytes read');
    this.at += n;
  }

  skip(type: number): void {
    switch (type) {
      case T.TRUE:
      case T.FALSE:
        return;
      case T.BYTE:
        this.skipBytes(1);
        return;
      case T.I16:
      case T.I32:
      case T.I64:
        this.varint();
        return;
      case T.DOUBLE:
        this.skipBytes(8);
        return;
      case T.BINARY:
        this.skipBytes(this.varint());
        return;
      case T.LIST:
      case T.SET: {
        const head = this.byte();
        const size = head >> 4 === 15 ? this.varint() : head >> 4;
        // A boolean element of a list is a whole byte.
        const element = head & 0x0f;
        for (let i = 0; i < size; i++) {
          if (element === T.TRUE || element === T.FALSE) this.skipBytes(1);
          else this.skip(element);
        }
        return;
      }
      case T.MAP: {
        const size = this.varint();
        if (size === 0) return;
        const kinds = this.byte();
        for (let i = 0; i < size; i++) {
          this.skip(kinds >> 4);
          this.skip(kinds & 0x0f);
        }
        return;
      }
      case T.STRUCT:
        this.struct(() => false);
        return;
      default:
        throw new Error(`unknown Thrift type ${type} in a Parquet page header`);
    }
  }

  /** Reads a struct's fields, handing each to `field` (which returns false to have it skipped). */
  struct(field: (id: number, type: number) => boolean): void {
    let id = 0;
    for (;;) {
      const head = this.byte();
      if (head === 0) return;
      const type = head & 0x0f;
      const delta = head >> 4;
      id = delta === 0 ? this.zigzag() : id + delta;
      if (!field(id, type)) this.skip(type);
    }
  }

  i32(type: number): number {
    if (type !== T.I32) throw new Error(`a Parquet page header field has Thrift type ${type}, expected i32`);
    return this.zigzag();
  }
}

/**
 * The page header at bytes[at…end): the header and its length in bytes. Throws ShortHeader when
 * the header does not end before `end`.
 */
export function readPageHeader(bytes: Uint8Array, at: number, end: number): { header: PageHeader; length: number } {
  const c = new Cursor(bytes, at, end);
  const header: PageHeader = {
    type: -1,
    uncompressedSize: -1,
    compressedSize: -1,
    numValues: 0,
    encoding: Encoding.PLAIN,
    definitionEncoding: Encoding.RLE,
    definitionBytes: 0,
    repetitionBytes: 0,
    compressed: true,
  };
  c.struct((id, type) => {
    switch (id) {
      case 1:
        header.type = c.i32(type);
        return true;
      case 2:
        header.uncompressedSize = c.i32(type);
        return true;
      case 3:
        header.compressedSize = c.i32(type);
        return true;
      case 5:
        if (type !== T.STRUCT) return false;
        c.struct((field, kind) => {
          if (field === 1) header.numValues = c.i32(kind);
          else if (field === 2) header.encoding = c.i32(kind);
          else if (field === 3) header.definitionEncoding = c.i32(kind);
          else return false;
          return true;
        });
        return true;
      case 8:
        if (type !== T.STRUCT) return false;
        c.struct((field, kind) => {
          if (field === 1) header.numValues = c.i32(kind);
          else if (field === 4) header.encoding = c.i32(kind);
          else if (field === 5) header.definitionBytes = c.i32(kind);
          else if (field === 6) header.repetitionBytes = c.i32(kind);
          else if (field === 7 && (kind === T.TRUE || kind === T.FALSE)) header.compressed = kind === T.TRUE;
          else return false;
          return true;
        });
        return true;
      default:
        return false;
    }
  });
  if (header.type < 0 || header.compressedSize < 0 || header.uncompressedSize < 0) {
    throw new Error('a Parquet page header lacks its type or sizes');
  }
  return { header, length: c.at - at };
}
