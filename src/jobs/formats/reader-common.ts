/**
 * What the three readers share: the row range a read covers, how a row's id is taken from its
 * id column, and how a failure to open or decode the input becomes MP_ERR_JOB_INPUT (the job's
 * input is at fault, not the server).
 */
import { isModelportError, mpError, type ModelportError } from '../../core/index.js';
import type { ReaderOptions } from './types.js';

export interface RowRange {
  startRow: number;
  /** Exclusive; Infinity when the read goes to the end. */
  endRow: number;
  startByte?: number;
}

function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw mpError('MP_ERR_JOB_INVALID', `${name} must be a non-negative integer, got ${String(value)}`);
  }
}

export function rowRange(options: ReaderOptions): RowRange {
  checkCount('startRow', options.startRow);
  checkCount('endRow', options.endRow);
  checkCount('startByte', options.startByte);
  if (options.startByte !== undefined && options.startRow === undefined) {
    // Records keep their index in the whole file: seeking without knowing which row is there
    // would number them from 0.
    throw mpError('MP_ERR_JOB_INVALID', 'startByte needs startRow: the row found at that byte must be known');
  }
  const range: RowRange = { startRow: options.startRow ?? 0, endRow: options.endRow ?? Infinity };
  if (options.startByte !== undefined) range.startByte = options.startByte;
  return range;
}

/** The row's id: the id column's value as text, or the row's index when it has none. */
export function idOf(value: unknown, index: number): string {
  if (value === undefined || value === null || value === '') return String(index);
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** An input that cannot be opened or decoded, as the job's error. */
export function inputError(path: string, error: unknown): ModelportError {
  if (isModelportError(error)) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const what = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read: ${message}`;
  return mpError('MP_ERR_JOB_INPUT', `input '${path}' ${what}`, error);
}

/** Shortens a parser's message for an error record (a reason should fit on one line). */
export function brief(message: string, max = 200): string {
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
