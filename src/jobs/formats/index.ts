/**
 * Batch job file formats (JSONL, CSV, Parquet): streamed readers and partition scans for inputs,
 * writers and partition merges for outputs, and the mapping of input rows to model tensors.
 * The one home of csv-parse, hyparquet and hyparquet-writer.
 */
export type {
  DataFormat, ErrorRow, InputRecord, OutputRow, OutputSchema, OutputValue, Partition, ReaderOptions, RowReader, RowWriter,
} from './types.js';
export { DATA_FORMATS, detectFormat, isDataFormat } from './format.js';
export { openInput, openRowReader, scanPartitions, type InputSource, type ReadRange } from './reader.js';
export { concatParts, createErrorWriter, createRowWriter, type ErrorWriter } from './writer.js';
export { RowMapper, type MappedBatch, type RowMapperOptions } from './row-mapper.js';
