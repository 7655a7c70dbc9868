/**
 * The job description both `modelport batch` and `modelport batch-submit` take from their flags
 * (input, output, formats, --map, batch size, id column, errors file, partition size), and the
 * small parsers behind it. Failures are usage errors: the callers report them with exit code 2.
 */
import type { BatchJobSpec, DataFormat } from '../jobs/index.js';

/** The formats --format and --output-format accept (the jobs module itself loads on use). */
export const DATA_FORMATS: readonly DataFormat[] = ['jsonl', 'csv', 'parquet'];

export interface JobSpecFlags {
  modelVersion?: string;
  input: string;
  output: string;
  format?: DataFormat;
  outputFormat?: DataFormat;
  map?: string[];
  batchSize?: string;
  idColumn?: string;
  errors?: string;
  partitionRows?: string;
}

export function jobSpecFromFlags(model: string, flags: JobSpecFlags): BatchJobSpec {
  const spec: BatchJobSpec = { model, input: flags.input, output: flags.output };
  if (flags.modelVersion !== undefined) spec.version = flags.modelVersion;
  if (flags.format !== undefined) spec.format = flags.format;
  if (flags.outputFormat !== undefined) spec.outputFormat = flags.outputFormat;
  if (flags.map !== undefined) spec.map = parseMap(flags.map);
  if (flags.batchSize !== undefined) spec.batchSize = positiveInteger('--batch-size', flags.batchSize);
  if (flags.idColumn !== undefined) spec.idColumn = flags.idColumn;
  if (flags.errors !== undefined) spec.errors = flags.errors;
  if (flags.partitionRows !== undefined) spec.partitionRows = positiveInteger('--partition-rows', flags.partitionRows);
  return spec;
}

/** `input=col1,col2` (repeatable) → { input: [col1, col2] }. */
export function parseMap(entries: string[]): Record<string, string[]> {
  const map: Record<string, string[]> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const fields = eq > 0 ? entry.slice(eq + 1).split(',').map((f) => f.trim()) : [];
    if (eq <= 0 || fields.length === 0 || fields.some((f) => f === '')) throw new Error(`--map expects INPUT=FIELD[,FIELD…], got '${entry}'`);
    const input = entry.slice(0, eq).trim();
    if (map[input] !== undefined) throw new Error(`--map names input '${input}' twice`);
    map[input] = fields;
  }
  return map;
}

export function positiveInteger(flag: string, text: string): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${flag} expects a positive integer, got '${text}'`);
  return value;
}

export function nonNegativeInteger(flag: string, text: string): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new Error(`${flag} expects a whole number, got '${text}'`);
  return value;
}
