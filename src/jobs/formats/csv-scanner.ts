/**
 * Finds where each CSV record ends, fast, for partition scans. csv-parse reports the same offsets
 * (its `bytes` counter at each record) but parses every field to do so, which is several times
 * slower than the read it prepares. This scanner walks the bytes with indexOf and a small state
 * machine instead, and reproduces csv-parse's record boundaries exactly for well-formed files:
 * quotes only at field starts, closed before a comma, a line end or the end of the file, `""`
 * inside quotes, one line ending (LF or CRLF) throughout, empty lines skipped. Anything else
 * (a stray quote, bare CR line ends, mixed endings, an unclosed quote, a UTF-16 BOM) is where
 * csv-parse's lenient rules get subtle, so the scanner gives up and the caller scans with
 * csv-parse itself: offsets then come from the parser that reads the rows, whatever it decided.
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

const enum Ending {
  Unknown,
  Lf,
  CrLf,
}

/** Receives the file offset just past each record (its line ending included). */
export type RecordEndSink = (end: number) => void;

export class CsvRecordScanner {
  /** Set once the input left the subset this scanner reproduces; the scan must be redone by csv-parse. */
  irregular: string | undefined;

  private ending = Ending.Unknown;
  /** File offset of byte 0 of the buffer being processed. */
  private base = 0;
  private carry: Buffer | undefined;
  private started = false;
  /** Inside a record that is being walked byte by byte (it holds a quote, or crosses a chunk end). */
  private inRecord = false;
  private quoting = false;
  private fieldEmpty = true;
  private wasQuoting = false;
  private recordEmpty = true;

  constructor(private readonly onRecord: RecordEndSink) {}

  push(chunk: Buffer): void {
    this.process(chunk, false);
  }

  end(): void {
    this.process(Buffer.alloc(0), true);
    if (this.irregular !== undefined) return;
    if (this.inRecord) {
      if (this.quoting) {
        this.irregular = 'a quoted field is not closed';
        return;
      }
      if (!this.isEmptyRecord()) this.onRecord(this.base);
      this.inRecord = false;
    }
  }

  private isEmptyRecord(): boolean {
    return this.recordEmpty && this.fieldEmpty && !this.wasQuoting;
  }

  private fail(reason: string): void {
    this.irregular = reason;
  }

  private process(chunk: Buffer, final: boolean): void {
    if (this.irregular !== undefined) return;
    let buf = chunk;
    if (this.carry !== undefined) {
      // `base` already points at the carried bytes' offset.
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let i = 0;
    const n = buf.length;
    if (!this.started) {
      if (n < 3 && !final) {
        this.keep(buf, 0);
        return;
      }
      this.started = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) i = 3;
      else if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) return this.fail('UTF-16 byte order mark');
    }
    let nextQuote = buf.indexOf(QUOTE, i);
    while (i < n) {
      if (!this.inRecord) {
        // At a record's start: a whole line without quotes is one record (or an empty line).
        const newline = buf.indexOf(LF, i);
        if (nextQuote >= 0 && nextQuote < i) nextQuote = buf.indexOf(QUOTE, i);
        if (newline < 0 || (nextQuote >= 0 && nextQuote < newline)) {
          this.inRecord = true;
          this.resetRecord();
          continue;
        }
        if (this.ending === Ending.Unknown) {
          const cr = buf.indexOf(CR, i);
          if (cr >= 0 && cr < newline - 1) return this.fail('CR line endings');
          this.ending = cr === newline - 1 ? Ending.CrLf : Ending.Lf;
        }
        if (this.ending === Ending.CrLf) {
          // A lone LF is field content to csv-parse once CRLF was seen: leave such files to it.
          if (newline === i || buf[newline - 1] !== CR) return this.fail('mixed line endings');
          if (newline - 1 > i) this.onRecord(this.base + newline + 1);
        } else if (newline > i) {
          this.onRecord(this.base + newline + 1);
        }
        i = newline + 1;
        continue;
      }
      const next = this.walk(buf, i, final);
      if (next < 0) return;
      if (next === n && this.carry !== undefined) return;
      i = next;
    }
    this.base += n;
  }

  private resetRecord(): void {
    this.quoting = false;
    this.fieldEmpty = true;
    this.wasQuoting = false;
    this.recordEmpty = true;
  }

  /** Keeps bytes from `from` on for the next chunk (a lookahead did not fit in this one). */
  private keep(buf: Buffer, from: number): void {
    this.carry = Buffer.from(buf.subarray(from));
    this.base += from;
  }

  /** Length of the record delimiter at `at`, 0 when there is none, -1 when more bytes are needed. */
  private delimiterAt(buf: Buffer, at: number, final: boolean): number {
    const byte = buf[at];
    if (byte === LF) {
      if (this.ending === Ending.Unknown) this.ending = Ending.Lf;
      return this.ending === Ending.Lf ? 1 : 0;
    }
    if (byte !== CR) return 0;
    if (this.ending === Ending.Lf) return 0;
    if (at + 1 >= buf.length) return final ? (this.ending === Ending.Unknown ? -2 : 0) : -1;
    if (buf[at + 1] === LF) {
      this.ending = Ending.CrLf;
      return 2;
    }
    return this.ending === Ending.Unknown ? -2 : 0;
  }

  /**
   * Walks one record byte by byte from `i`. Returns the index just past the record's delimiter,
   * buf.length when the buffer ran out mid-record (state kept, or the tail carried over), or -1
   * once the input proved irregular.
   */
  private walk(buf: Buffer, start: number, final: boolean): number {
    const n = buf.length;
    for (let i = start; i < n; i++) {
      const byte = buf[i];
      if (this.quoting) {
        if (byte !== QUOTE) {
          // Skip to the next quote: everything up to it is field content.
          const quote = buf.indexOf(QUOTE, i + 1);
          this.fieldEmpty = false;
          if (quote < 0) return n;
          i = quote - 1;
          continue;
        }
        if (i + 2 >= n && !final) {
          this.keep(buf, i);
          return n;
        }
        const after = buf[i + 1];
        if (after === QUOTE) {
          this.fieldEmpty = false;
          i++;
          continue;
        }
        if (after === undefined || after === 0 || after === COMMA) {
          this.quoting = false;
          this.wasQuoting = true;
          continue;
        }
        const delimiter = this.delimiterAt(buf, i + 1, final);
        if (delimiter > 0) {
          this.quoting = false;
          this.wasQuoting = true;
          continue;
        }
        this.fail(delimiter === -2 ? 'CR line endings' : 'a closing quote is followed by other text');
        return -1;
      }
      if (byte === QUOTE) {
        if (this.fieldEmpty && !this.wasQuoting) {
          this.quoting = true;
          continue;
        }
        this.fail('a quote inside an unquoted field');
        return -1;
      }
      if (byte === COMMA) {
        this.recordEmpty = false;
        this.fieldEmpty = true;
        this.wasQuoting = false;
        continue;
      }
      if (byte === LF || byte === CR) {
        const delimiter = this.delimiterAt(buf, i, final);
        if (delimiter === -1) {
          this.keep(buf, i);
          return n;
        }
        if (delimiter === -2) {
          this.fail('CR line endings');
          return -1;
        }
        if (delimiter === 0) {
          if (byte === LF) {
            this.fail('mixed line endings');
            return -1;
          }
          this.fieldEmpty = false;
          continue;
        }
        if (!this.isEmptyRecord()) this.onRecord(this.base + i + delimiter);
        this.inRecord = false;
        this.resetRecord();
        return i + delimiter;
      }
      this.fieldEmpty = false;
    }
    return n;
  }
}
