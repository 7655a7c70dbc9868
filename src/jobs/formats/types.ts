/**
 * What batch jobs read and write, whatever the file format: input records with their row index
 * and id, output rows keyed the same way, rows refused with a reason, and the reader and writer
 * seams each format implements (JSONL, CSV, Parquet).
 */
import type { Datatype } from '../../core/index.js';

export type DataFormat = 'jsonl' | 'csv' | 'parquet';

/** One input row as the file has it. */
export interface InputRecord {
  /** 0-based position in the input (data rows only: a CSV header is not a row). */
  index: number;
  /** The id column's value when one is named, else String(index). */
  id: string;
  /**
   * Field values by column name (CSV: strings; JSONL: any JSON value; Parquet: numbers, bigints,
   * strings, arrays). A JSONL line holding a bare array becomes { "0": v0, "1": v1, … }.
   * Undefined when the row could not be parsed at all (see `error`).
   */
  fields?: Record<string, unknown>;
  /** Why the row could not be read (a JSONL line that is not JSON, a CSV row with the wrong field count). */
  error?: string;
}

export interface ReaderOptions {
  format: DataFormat;
  /** Column holding each row's id. */
  idColumn?: string;
  /** First row to read (its index is kept: records carry their position in the whole file). */
  startRow?: number;
  /**
   * Byte offset where `startRow` begins (JSONL, CSV), from scanPartitions: the reader seeks there
   * instead of parsing everything before it. A CSV header is still read from the file's start.
   */
  startByte?: number;
  /** Stop before this row. */
  endRow?: number;
}

/** A contiguous range of input rows that is processed, written and recorded as one unit. */
export interface Partition {
  index: number;
  startRow: number;
  /** Exclusive. */
  endRow: number;
  /** JSONL and CSV: byte offset of startRow's first byte. */
  startByte?: number;
}

/** Streams records in input order; memory stays flat whatever the file size. */
export type RowReader = AsyncIterable<InputRecord>;

/** The value of one model output for one row. */
export interface OutputValue {
  name: string;
  datatype: Datatype;
  /** Shape of one row's output (batch dimension removed). */
  shape: number[];
  /** Flattened row-major values. */
  values: ArrayLike<number | bigint | boolean> | string[];
}

export interface OutputRow {
  index: number;
  id: string;
  outputs: OutputValue[];
}

export interface ErrorRow {
  index: number;
  id: string;
  reason: string;
}

/** The columns an output file will hold, known before the first row. */
export interface OutputSchema {
  outputs: Array<{ name: string; datatype: Datatype; shape: number[] }>;
}

export interface RowWriter {
  /** Rows in order; may buffer. */
  write(rows: readonly OutputRow[]): Promise<void>;
  /** Flushes and closes the file (fsync'd). */
  close(): Promise<void>;
}
