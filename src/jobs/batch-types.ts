/**
 * The batch engine's seams: the model a job runs (in this process through the data plane, or on a
 * remote server), the job's specification, and its progress and summary.
 */
import type { Tensor, TensorSpec } from '../core/index.js';
import type { DataFormat } from './formats/types.js';

export interface BatchModel {
  name: string;
  version: string;
  /** sha256 of the model file when known; partition outputs are keyed by it. */
  digest?: string;
  /** Shapes include the batch dimension (-1) when the model batches. */
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** 0 when the model does not batch. */
  maxBatchSize: number;
}

/** Runs batches of rows: inputs with the batch along dim 0, outputs likewise. */
export interface BatchInferencer {
  describe(): Promise<BatchModel>;
  infer(inputs: Tensor[]): Promise<Tensor[]>;
  close?(): Promise<void>;
}

export interface BatchJobSpec {
  model: string;
  version?: string;
  input: string;
  output: string;
  /** Input format (default: from the input's extension); the output uses the same unless set. */
  format?: DataFormat;
  outputFormat?: DataFormat;
  /** Model input name → the fields that make up its values, in order (default: the field named like the input). */
  map?: Record<string, string[]>;
  /** Rows per inference request (default: the model's max batch size, else 64). */
  batchSize?: number;
  idColumn?: string;
  /** Where refused rows go (JSONL: index, id, reason); default `<output>.errors.jsonl`. */
  errors?: string;
  /** Rows per partition (default 10,000). */
  partitionRows?: number;
}

export interface BatchProgress {
  rowsDone: number;
  rowsFailed: number;
  /** Known once the input was scanned. */
  rowsTotal?: number;
  partitionsDone: number;
  partitionsTotal?: number;
  elapsedMs: number;
}

export interface BatchSummary extends BatchProgress {
  rowsIn: number;
  rowsOut: number;
  output: string;
  errors: string;
  rowsPerSecond: number;
  /** Partitions found done from an earlier run and not redone. */
  partitionsResumed: number;
}
