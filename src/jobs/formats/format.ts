/**
 * Which file format a batch input or output is, judged from its extension: the one place that
 * knows the extensions, so the CLI, the API and the engine agree on what "data.ndjson" means.
 */
import { extname } from 'node:path';
import { mpError } from '../../core/index.js';
import type { DataFormat } from './types.js';

const EXTENSIONS: Record<string, DataFormat> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  // A ".json" batch file is taken as one JSON value per line: a single JSON array holding every
  // row could not be streamed, and files named .json are JSON Lines often enough in practice.
  '.json': 'jsonl',
  '.csv': 'csv',
  '.parquet': 'parquet',
};

export const DATA_FORMATS: readonly DataFormat[] = ['jsonl', 'csv', 'parquet'];

export function isDataFormat(value: unknown): value is DataFormat {
  return typeof value === 'string' && (DATA_FORMATS as readonly string[]).includes(value);
}

/** The format a path's extension names (case-insensitive); throws MP_ERR_JOB_INVALID for any other. */
export function detectFormat(path: string): DataFormat {
  const extension = extname(path).toLowerCase();
  const format = EXTENSIONS[extension];
  if (format === undefined) {
    throw mpError(
      'MP_ERR_JOB_INVALID',
      `cannot tell the format of '${path}' from its extension '${extension}': expected .jsonl, .ndjson, .json, .csv or .parquet (or name the format)`,
    );
  }
  return format;
}
