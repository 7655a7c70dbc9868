/**
 * Input files for the batch benchmark: rows of 256 FP32 features for the `mlp` example, written
 * once as CSV (an `id` column, then one column per feature, f0…f255) and as Parquet (the same
 * columns: `id` as a UTF-8 string, each feature a FLOAT column). Values come from a seeded
 * generator, so row i is the same in every file and every run, and a smaller file is a prefix of
 * a larger one. Each value is a multiple of 1/1000 in [-1, 1): short in CSV text, and the text
 * parses back to exactly the number the in-process baseline is given, so every path sees the same
 * inputs. Generation happens before anything is timed.
 */
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';

export const FEATURES = 256;
export const SEED = 20261128;
/** Rows per Parquet row group of the input files (hyparquet-writer's own default from the second group on). */
export const INPUT_ROW_GROUP_ROWS = 100_000;
/** Rows generated and written per step. */
const BLOCK_ROWS = 5_000;

export const FEATURE_NAMES: readonly string[] = Array.from({ length: FEATURES }, (_, i) => `f${i}`);

/**
 * The CSV cell of each code, preceded by its comma: the shortest text that reads back as
 * (code - 1000) / 1000, as bytes in one table (CELL_START/CELL_LENGTH locate each), so a row is
 * written by copying bytes rather than by concatenating strings.
 */
const CELLS = (() => {
  const texts = Array.from({ length: 2000 }, (_, code) => `,${String((code - 1000) / 1000)}`);
  const bytes = Buffer.from(texts.join(''), 'latin1');
  const start = new Uint32Array(texts.length);
  const length = new Uint8Array(texts.length);
  let at = 0;
  texts.forEach((text, code) => {
    start[code] = at;
    length[code] = text.length;
    at += text.length;
  });
  return { bytes, start, length, longest: Math.max(...texts.map((t) => t.length)) };
})();

export interface BenchInputs {
  rows: number;
  csv: string;
  parquet: string;
  csvBytes: number;
  parquetBytes: number;
}

/** mulberry32 over the feature stream: codes 0…1999 standing for (code - 1000) / 1000. */
class ValueStream {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The next rows × FEATURES codes, row-major. */
  fill(codes: Uint16Array): void {
    let state = this.#state;
    for (let i = 0; i < codes.length; i++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      codes[i] = ((t ^ (t >>> 14)) >>> 0) % 2000;
    }
    this.#state = state;
  }
}

export function rowId(index: number): string {
  return `r${index}`;
}

/** The first `rows` rows as one row-major Float32Array (what the files hold, as FP32). */
export function featureRows(rows: number): Float32Array {
  const codes = new Uint16Array(rows * FEATURES);
  new ValueStream(SEED).fill(codes);
  const data = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) data[i] = (codes[i]! - 1000) / 1000;
  return data;
}

/** Appends each encoded row group to an open file as the ParquetWriter flushes. */
class FdByteWriter extends ByteWriter {
  constructor(private readonly fd: number) {
    super(1 << 20);
  }

  flush(): void {
    if (this.index > 0) writeSync(this.fd, new Uint8Array(this.buffer, 0, this.index));
    this.index = 0;
  }

  override finish(): void {
    this.flush();
  }
}

function writeInputs(rows: number, csvPath: string, parquetPath: string): void {
  const csv = openSync(csvPath, 'w');
  const parquet = openSync(parquetPath, 'w');
  try {
    writeSync(csv, `id,${FEATURE_NAMES.join(',')}\n`);
    const writer = new ParquetWriter({
      writer: new FdByteWriter(parquet),
      schema: [
        { name: 'root', num_children: FEATURES + 1 },
        { name: 'id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
        ...FEATURE_NAMES.map((name) => ({ name, type: 'FLOAT' as const, repetition_type: 'REQUIRED' as const })),
      ],
      createdBy: 'modelport batch-bench',
    });
    const stream = new ValueStream(SEED);
    const codes = new Uint16Array(BLOCK_ROWS * FEATURES);
    const text = Buffer.allocUnsafe(BLOCK_ROWS * (FEATURES * CELLS.longest + 24));
    const { bytes: cellBytes, start: cellStart, length: cellLength } = CELLS;
    // One row group's columns, filled block by block.
    const groupRows = Math.min(INPUT_ROW_GROUP_ROWS, rows);
    const ids: string[] = new Array<string>(groupRows);
    const columns = FEATURE_NAMES.map(() => new Float32Array(groupRows));
    let inGroup = 0;
    const flushGroup = (): void => {
      if (inGroup === 0) return;
      const columnData = [
        { name: 'id', data: ids.slice(0, inGroup) },
        // PLAIN, as real-valued features end up: a writer's dictionary gives up on their cardinality.
        ...FEATURE_NAMES.map((name, f) => ({ name, data: columns[f]!.subarray(0, inGroup), encoding: 'PLAIN' as const })),
      ];
      void writer.write({ columnData, rowGroupSize: inGroup });
      inGroup = 0;
    };
    for (let start = 0; start < rows; start += BLOCK_ROWS) {
      const n = Math.min(BLOCK_ROWS, rows - start);
      const view = codes.subarray(0, n * FEATURES);
      stream.fill(view);
      let at = 0;
      for (let r = 0; r < n; r++) {
        const base = r * FEATURES;
        const id = rowId(start + r);
        at += text.write(id, at, 'latin1');
        for (let f = 0; f < FEATURES; f++) {
          const code = view[base + f]!;
          for (let b = cellStart[code]!, e = b + cellLength[code]!; b < e; b++) text[at++] = cellBytes[b]!;
        }
        text[at++] = 0x0a;
        ids[inGroup] = id;
        for (let f = 0; f < FEATURES; f++) columns[f]![inGroup] = (view[base + f]! - 1000) / 1000;
        inGroup++;
        if (inGroup === groupRows) flushGroup();
      }
      writeSync(csv, text, 0, at);
    }
    flushGroup();
    void writer.finish();
  } finally {
    closeSync(csv);
    closeSync(parquet);
  }
}

/**
 * The CSV and Parquet files of `rows` rows in `dir`, written unless a complete pair from an
 * earlier run is there (a marker file is written last).
 */
export function ensureInputs(dir: string, rows: number): BenchInputs & { generatedSeconds: number } {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `mlp-${rows}-seed${SEED}`);
  const csv = `${base}.csv`;
  const parquet = `${base}.parquet`;
  const marker = `${base}.complete`;
  let generatedSeconds = 0;
  if (!(existsSync(marker) && existsSync(csv) && existsSync(parquet))) {
    const started = performance.now();
    writeInputs(rows, csv, parquet);
    writeFileSync(marker, `${new Date().toISOString()}\n`);
    generatedSeconds = (performance.now() - started) / 1000;
  }
  return { rows, csv, parquet, csvBytes: statSync(csv).size, parquetBytes: statSync(parquet).size, generatedSeconds };
}
