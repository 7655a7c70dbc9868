/**
 * The batch (offline) inference engine: runs every row of an input file through a model and
 * writes one output row per input row, keyed by the row's id and index, and one error record per
 * row that could not be read, mapped or inferred. Bad rows never stop a job.
 *
 * Fault tolerance comes from partitions. The input is cut into row ranges once (plan), and each
 * range is written to its own part file under `<output>.parts/`, first as `.tmp`, then fsync'd
 * and renamed: a part file that exists is complete, and its existence is the record that the
 * partition is done. A job killed at any point (SIGKILL included) resumes by redoing only the
 * partitions without a part file; the manifest written at plan time makes sure a resume continues
 * the same job (same input file, model and settings) rather than mixing two. Once every
 * partition is done, the parts are merged into the output (and the errors file) through a
 * temporary file and a rename, and the parts folder is removed.
 *
 * Determinism: a partition's rows are cut into batches from its own first row, so the same
 * partition always sends the same requests and writes the same bytes, and the merge depends only
 * on the parts' bytes. A resumed job therefore ends with the same output as one that never
 * stopped (given a model that answers a row the same way whatever batch it came in).
 *
 * Throughput: up to `concurrency` batches are in flight at once (by default four per model
 * instance, so every instance has batches queued while it runs one, enough to cover the moments
 * this thread is busy with something else: decoding a Parquet row group, closing a part file), shared by the
 * running partition and the next one, which starts reading as soon as the previous one has sent
 * its last batch, so instances do not idle at partition boundaries.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { isModelportError, mpError, toModelportError, type ModelportError, type Tensor, type TensorSpec } from '../core/index.js';
import type { BatchInferencer, BatchJobSpec, BatchModel, BatchProgress, BatchSummary } from './batch-types.js';
import {
  concatParts,
  createErrorWriter,
  createRowWriter,
  detectFormat,
  openInput,
  RowMapper,
  scanPartitions,
  type DataFormat,
  type ErrorRow,
  type InputRecord,
  type InputSource,
  type OutputRow,
  type OutputSchema,
  type OutputValue,
  type Partition,
} from './formats/index.js';

/** Bumped when the manifest or the part files change meaning; a resume across versions is refused. */
const MANIFEST_VERSION = 1;
const DEFAULT_PARTITION_ROWS = 10_000;
/** Rows per request when the model's max batch size says nothing (it does not batch, or is unknown). */
const DEFAULT_BATCH_SIZE = 64;
const DEFAULT_BATCHES_PER_INSTANCE = 4;
/** Tries of a request that failed for a reason that may pass (server busy or restarting, timeout). */
const DEFAULT_ATTEMPTS = 8;
const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 5_000;
const PART_NAME = /^part-\d{5,}\.(jsonl|csv|parquet|errors\.jsonl)(\.tmp)?$/;

/** The job as planned: the spec with every default resolved, the model it runs on, its partitions. */
export interface BatchPlan {
  spec: ResolvedSpec;
  model: BatchModel;
  /** Data rows in the input. */
  rows: number;
  partitions: Partition[];
  /** `<output>.parts`. */
  partsDir: string;
  schema: OutputSchema;
  /** True when a manifest of an earlier run of this job was found and accepted. */
  resumed: boolean;
}

/** A BatchJobSpec with absolute paths and every default filled in; what the manifest records. */
export interface ResolvedSpec {
  model: string;
  version?: string;
  input: string;
  output: string;
  errors: string;
  format: DataFormat;
  outputFormat: DataFormat;
  map?: Record<string, string[]>;
  batchSize: number;
  idColumn?: string;
  partitionRows: number;
}

interface Manifest {
  manifestVersion: number;
  spec: ResolvedSpec;
  input: { size: number; mtimeMs: number };
  model: { name: string; version: string; digest: string | null; maxBatchSize: number; inputs: TensorSpec[]; outputs: TensorSpec[] };
  rows: number;
  partitions: Partition[];
}

export interface PlanOptions {
  /** Continue the job whose manifest is in the parts folder (refused if it is another job). */
  resume?: boolean;
}

export interface RunOptions extends PlanOptions {
  onProgress?: (progress: BatchProgress) => void;
  /** Stops between batches; partitions already done stay done for a resume. */
  signal?: AbortSignal;
  /** Batches in flight (default: `batchesPerInstance` × the model's instances when known, at least 2; else 4). */
  concurrency?: number;
  /** Batches in flight per model instance when `concurrency` is not given (default 4). */
  batchesPerInstance?: number;
  /** Tries of a request failing for a passing reason before the job gives up (default 8). */
  attempts?: number;
}

export interface PartitionOptions {
  concurrency?: number;
  signal?: AbortSignal;
  attempts?: number;
  /** Shared by partitions that run at the same time, so together they keep `concurrency` batches in flight. */
  slots?: Slots;
  /** Called once every batch of the partition has been sent (the next partition may start reading). */
  onSubmitted?: () => void;
  /** Called after each batch's rows are written: rows written and rows failed in that batch. */
  onRows?: (written: number, failed: number) => void;
  /**
   * The job's input, opened once for all its partitions (read in ascending order), so what a
   * reader decoded for one partition serves the next; by default the partition opens its own.
   */
  source?: InputSource;
}

export interface PartitionResult {
  partition: Partition;
  rowsOut: number;
  rowsFailed: number;
}

/** What a batch of rows gave: output rows and refused rows, each in row order. */
interface ChunkResult {
  rows: OutputRow[];
  errors: ErrorRow[];
}

/** A counting semaphore: how many batches may be in flight across the partitions running. */
export class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(count: number) {
    this.#free = count;
  }

  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

export function partPath(partsDir: string, partition: Partition, format: DataFormat): string {
  return join(partsDir, `part-${String(partition.index).padStart(5, '0')}.${format}`);
}

export function errorPartPath(partsDir: string, partition: Partition): string {
  return join(partsDir, `part-${String(partition.index).padStart(5, '0')}.errors.jsonl`);
}

export class BatchEngine {
  /**
   * Checks the spec, finds the formats, and either starts the job afresh (scans the input into
   * partitions and writes the manifest, replacing an earlier parts folder) or, with `resume` and
   * a manifest present, checks that input, model and settings are the ones the manifest recorded
   * and takes its partitions (MP_ERR_JOB_RESUME naming what changed otherwise).
   */
  async plan(spec: BatchJobSpec, model: BatchModel, options: PlanOptions = {}): Promise<BatchPlan> {
    const resolved = resolveSpec(spec, model);
    // Refuses a bad map before the input is scanned.
    newMapper(model, resolved);
    const info = await stat(resolved.input).catch((error: NodeJS.ErrnoException) => {
      throw mpError('MP_ERR_JOB_INPUT', `input '${spec.input}' ${error.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${error.message}`}`, error);
    });
    if (!info.isFile()) throw mpError('MP_ERR_JOB_INPUT', `input '${spec.input}' is not a file`);
    // Made now rather than found missing at the very end, when the errors file is moved there.
    await mkdir(dirname(resolved.errors), { recursive: true });
    const partsDir = `${resolved.output}.parts`;
    const manifestPath = join(partsDir, 'manifest.json');
    const schema = outputSchema(model);
    const input = { size: info.size, mtimeMs: info.mtimeMs };
    const modelRecord = {
      name: model.name,
      version: model.version,
      digest: model.digest ?? null,
      maxBatchSize: model.maxBatchSize,
      inputs: model.inputs,
      outputs: model.outputs,
    };

    if (options.resume) {
      const previous = await readManifest(manifestPath);
      if (previous !== undefined) {
        const changed = manifestChanges(previous, { spec: resolved, input, model: modelRecord });
        if (changed.length > 0) {
          throw mpError(
            'MP_ERR_JOB_RESUME',
            `cannot resume the job writing '${spec.output}': ${changed.join('; ')}. Run without --resume to start it over`,
          );
        }
        return { spec: resolved, model, rows: previous.rows, partitions: previous.partitions, partsDir, schema, resumed: true };
      }
    }

    await clearPartsDir(partsDir);
    const { partitions, rows } = await scanPartitions(resolved.input, resolved.format, resolved.partitionRows);
    // The scan read the whole file: if it changed meanwhile, the partitions may not match it.
    const after = await stat(resolved.input);
    if (after.size !== info.size || after.mtimeMs !== info.mtimeMs) {
      throw mpError('MP_ERR_JOB_INPUT', `input '${spec.input}' changed while it was being scanned`);
    }
    await mkdir(partsDir, { recursive: true });
    const manifest: Manifest = { manifestVersion: MANIFEST_VERSION, spec: resolved, input, model: modelRecord, rows, partitions };
    await writeDurably(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    return { spec: resolved, model, rows, partitions, partsDir, schema, resumed: false };
  }

  /** Whether the partition's part file (and so its errors part) is in place. */
  isDone(plan: BatchPlan, partition: Partition): boolean {
    return existsSync(partPath(plan.partsDir, partition, plan.spec.outputFormat)) && existsSync(errorPartPath(plan.partsDir, partition));
  }

  /**
   * Runs one partition: reads rows [startRow, endRow), maps them to tensors a batch at a time,
   * keeps up to `concurrency` batches in flight, writes outputs and refused rows in row order to
   * temporary files, then fsyncs and renames them into place (errors part first: the output part
   * appearing is what marks the partition done). Redoing a done partition rewrites the same bytes.
   */
  async runPartition(plan: BatchPlan, partition: Partition, inferencer: BatchInferencer, options: PartitionOptions = {}): Promise<PartitionResult> {
    const { spec, partsDir } = plan;
    const concurrency = Math.max(1, options.concurrency ?? 4);
    const slots = options.slots ?? new Slots(concurrency);
    const mapper = newMapper(plan.model, spec);
    const finalPart = partPath(partsDir, partition, spec.outputFormat);
    const finalErrors = errorPartPath(partsDir, partition);
    const tmpPart = `${finalPart}.tmp`;
    const tmpErrors = `${finalErrors}.tmp`;
    const writer = await createRowWriter(tmpPart, spec.outputFormat, plan.schema);
    let errorWriter;
    try {
      errorWriter = await createErrorWriter(tmpErrors);
    } catch (error) {
      await writer.close().catch(() => undefined);
      await unlink(tmpPart).catch(() => undefined);
      throw error;
    }
    const inFlight: Array<Promise<ChunkResult>> = [];
    let rowsOut = 0;
    let rowsFailed = 0;
    let rowsRead = 0;

    const drainOne = async (): Promise<void> => {
      const result = await inFlight.shift()!;
      await writer.write(result.rows);
      await errorWriter.write(result.errors);
      rowsOut += result.rows.length;
      rowsFailed += result.errors.length;
      options.onRows?.(result.rows.length, result.errors.length);
    };
    const submit = async (records: InputRecord[]): Promise<void> => {
      throwIfAborted(options.signal);
      await slots.acquire();
      const chunk = this.#inferChunk(records, mapper, inferencer, plan, options).finally(() => slots.release());
      // Failures surface when the chunk's turn to be written comes; until then, keep them quiet.
      chunk.catch(() => undefined);
      inFlight.push(chunk);
      // Write what is finished, in order, without waiting; wait only when the window is full.
      while (inFlight.length >= concurrency) await drainOne();
    };

    let ownSource: InputSource | undefined;
    try {
      const source = options.source ?? (ownSource = await openJobInput(spec));
      const blocks = source.read({
        startRow: partition.startRow,
        ...(partition.startByte !== undefined ? { startByte: partition.startByte } : {}),
        endRow: partition.endRow,
      });
      const batchSize = spec.batchSize;
      let records: InputRecord[] = [];
      for await (const block of blocks) {
        rowsRead += block.length;
        for (let i = 0; i < block.length; i++) {
          records.push(block[i]!);
          if (records.length === batchSize) {
            await submit(records);
            records = [];
          }
        }
      }
      if (records.length > 0) await submit(records);
      await ownSource?.close();
      ownSource = undefined;
      const expected = partition.endRow - partition.startRow;
      if (rowsRead !== expected) {
        throw mpError('MP_ERR_JOB_INPUT', `input '${spec.input}' changed since it was scanned: rows ${partition.startRow}..${partition.endRow - 1} gave ${rowsRead} rows, expected ${expected}`);
      }
      options.onSubmitted?.();
      while (inFlight.length > 0) await drainOne();
      await writer.close();
      await errorWriter.close();
      await rename(tmpErrors, finalErrors);
      await rename(tmpPart, finalPart);
      await syncDir(partsDir);
      return { partition, rowsOut, rowsFailed };
    } catch (error) {
      // Nothing of this partition may look done; batches still running are let finish first, so
      // no request outlives the job (the caller may close the model right after).
      options.onSubmitted?.();
      await ownSource?.close().catch(() => undefined);
      await Promise.allSettled(inFlight);
      await writer.close().catch(() => undefined);
      await errorWriter.close().catch(() => undefined);
      await unlink(tmpPart).catch(() => undefined);
      await unlink(tmpErrors).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Plans the job (see plan), runs every partition not done yet in order (the next one starting
   * as soon as the current one has sent its last batch), merges the parts into the output and the
   * errors file, and removes the parts folder. Throws (leaving the done partitions for a resume)
   * when cancelled or when the model cannot be reached; bad rows only go to the errors file.
   */
  async run(spec: BatchJobSpec, inferencer: BatchInferencer, options: RunOptions = {}): Promise<BatchSummary> {
    const started = performance.now();
    throwIfAborted(options.signal);
    const model = await inferencer.describe();
    const plan = await this.plan(spec, model, options);
    const { spec: resolved, partitions } = plan;
    const instances = (model as { instances?: number }).instances;
    const perInstance = options.batchesPerInstance ?? DEFAULT_BATCHES_PER_INSTANCE;
    const concurrency = Math.max(1, options.concurrency ?? (instances !== undefined ? Math.max(2, perInstance * instances) : 4));

    let rowsDone = 0;
    let rowsFailed = 0;
    let partitionsDone = 0;
    let partitionsResumed = 0;
    const pending: Partition[] = [];
    for (const partition of partitions) {
      if (this.isDone(plan, partition)) {
        partitionsResumed++;
        partitionsDone++;
        rowsDone += partition.endRow - partition.startRow;
        rowsFailed += await countLines(errorPartPath(plan.partsDir, partition));
      } else {
        pending.push(partition);
      }
    }
    const rowsBefore = rowsDone;
    const progress = (): BatchProgress => ({
      rowsDone,
      rowsFailed,
      rowsTotal: plan.rows,
      partitionsDone,
      partitionsTotal: partitions.length,
      elapsedMs: performance.now() - started,
    });
    options.onProgress?.(progress());

    // One controller for the whole run: the caller's signal, or the first failed partition, stops
    // every partition between batches.
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const slots = new Slots(concurrency);
    const running = new Set<Promise<void>>();
    let failure: unknown;
    const source = pending.length > 0 ? await openJobInput(resolved) : undefined;
    try {
      for (const partition of pending) {
        if (controller.signal.aborted) break;
        let submitted!: () => void;
        const allSent = new Promise<void>((resolve) => (submitted = resolve));
        const task: Promise<void> = this.runPartition(plan, partition, inferencer, {
          concurrency,
          slots,
          signal: controller.signal,
          attempts: options.attempts ?? DEFAULT_ATTEMPTS,
          ...(source !== undefined ? { source } : {}),
          onSubmitted: submitted,
          onRows: (written, failed) => {
            rowsDone += written + failed;
            rowsFailed += failed;
            options.onProgress?.(progress());
          },
        }).then(
          () => {
            partitionsDone++;
            options.onProgress?.(progress());
          },
          (error: unknown) => {
            // Keep the first real failure; cancellations it caused in other partitions are noise.
            if (failure === undefined || (isCancelled(failure) && !isCancelled(error))) failure = error;
            controller.abort(error);
          },
        );
        running.add(task);
        void task.finally(() => running.delete(task));
        // (A partition that failed before reading anything settles without saying so.)
        await Promise.race([allSent, task]);
        // At most this partition and the next one at a time: memory stays bounded.
        while (running.size > 1) await Promise.race(running);
      }
      await Promise.all(running);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      await source?.close();
    }
    if (failure !== undefined) throw failure;
    if (options.signal?.aborted) throw cancelledError();

    await this.#merge(plan);
    const elapsedMs = performance.now() - started;
    const rowsThisRun = rowsDone - rowsBefore;
    return {
      rowsDone,
      rowsFailed,
      rowsTotal: plan.rows,
      partitionsDone,
      partitionsTotal: partitions.length,
      elapsedMs,
      rowsIn: plan.rows,
      rowsOut: plan.rows - rowsFailed,
      output: resolved.output,
      errors: resolved.errors,
      rowsPerSecond: elapsedMs > 0 ? (rowsThisRun * 1000) / elapsedMs : 0,
      partitionsResumed,
    };
  }

  /** Parts → output and errors file (each through a temporary file and a rename), then removes the parts. */
  async #merge(plan: BatchPlan): Promise<void> {
    const { spec, partsDir, partitions } = plan;
    const outputTmp = join(partsDir, `merged.${spec.outputFormat}.tmp`);
    await concatParts(partitions.map((p) => partPath(partsDir, p, spec.outputFormat)), outputTmp, spec.outputFormat);
    // The errors file may be in another folder (another file system): its temporary file goes beside it.
    const errorsTmp = join(dirname(spec.errors), `.${basename(spec.errors)}.tmp`);
    await concatParts(partitions.map((p) => errorPartPath(partsDir, p)), errorsTmp, 'jsonl');
    await rename(errorsTmp, spec.errors);
    await rename(outputTmp, spec.output);
    await syncDir(dirname(spec.output));
    if (dirname(spec.errors) !== dirname(spec.output)) await syncDir(dirname(spec.errors));
    await rm(partsDir, { recursive: true, force: true });
  }

  /** Maps and infers one batch of records; a batch that fails as a whole is retried row by row. */
  async #inferChunk(records: InputRecord[], mapper: RowMapper, inferencer: BatchInferencer, plan: BatchPlan, options: PartitionOptions): Promise<ChunkResult> {
    const batched = plan.model.maxBatchSize > 0;
    const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
    const rows: OutputRow[] = [];
    let errors: ErrorRow[] = [];
    const inferRows = async (group: InputRecord[]): Promise<void> => {
      const mapped = mapper.map(group);
      errors.push(...mapped.rejected);
      if (mapped.accepted.length === 0) return;
      const outputs = await inferWithRetry(inferencer, mapped.inputs, () => mapper.map(mapped.accepted).inputs, attempts, options.signal);
      splitRows(outputs, mapped.accepted, batched, rows);
    };
    const oneByOne = async (group: readonly InputRecord[]): Promise<void> => {
      for (const record of group) {
        try {
          await inferRows([record]);
        } catch (error) {
          if (!isRowError(error)) throw error;
          errors.push({ index: record.index, id: record.id, reason: reasonOf(error) });
        }
      }
    };

    if (!batched) {
      // A model that does not batch takes one row per request.
      await oneByOne(records);
    } else {
      const mapped = mapper.map(records);
      errors = mapped.rejected;
      if (mapped.accepted.length > 0) {
        try {
          const outputs = await inferWithRetry(inferencer, mapped.inputs, () => mapper.map(mapped.accepted).inputs, attempts, options.signal);
          splitRows(outputs, mapped.accepted, true, rows);
        } catch (error) {
          if (!isRowError(error)) throw error;
          if (mapped.accepted.length === 1) {
            const record = mapped.accepted[0]!;
            errors.push({ index: record.index, id: record.id, reason: reasonOf(error) });
          } else {
            // One bad row must not fail its neighbours: each row again, alone. The batch's
            // tensors may have moved to a worker thread, so rows are mapped afresh.
            rows.length = 0;
            await oneByOne(mapped.accepted);
          }
        }
      }
    }
    if (errors.length > 1) errors.sort((a, b) => a.index - b.index);
    return { rows, errors };
  }
}

/** The spec with paths made absolute and every default resolved against the model. */
function resolveSpec(spec: BatchJobSpec, model: BatchModel): ResolvedSpec {
  if (!spec.input) throw mpError('MP_ERR_JOB_INVALID', 'the job needs an input file');
  if (!spec.output) throw mpError('MP_ERR_JOB_INVALID', 'the job needs an output file');
  const input = resolve(spec.input);
  const output = resolve(spec.output);
  const errors = resolve(spec.errors ?? `${spec.output}.errors.jsonl`);
  if (output === input) throw mpError('MP_ERR_JOB_INVALID', `output '${spec.output}' is the input file`);
  if (errors === input || errors === output) throw mpError('MP_ERR_JOB_INVALID', `errors file '${errors}' is the input or the output file`);
  const format = spec.format ?? detectFormat(spec.input);
  // The output's own extension when it names a format ("out.csv" from "in.jsonl"), else the input's format.
  let outputFormat = spec.outputFormat;
  if (outputFormat === undefined) {
    try {
      outputFormat = detectFormat(spec.output);
    } catch {
      outputFormat = format;
    }
  }
  const maxBatchSize = model.maxBatchSize;
  const batchSize = spec.batchSize ?? (maxBatchSize > 0 ? maxBatchSize : DEFAULT_BATCH_SIZE);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw mpError('MP_ERR_JOB_INVALID', `batch size must be a positive integer, got ${String(spec.batchSize)}`);
  if (maxBatchSize > 0 && batchSize > maxBatchSize) {
    throw mpError('MP_ERR_JOB_INVALID', `batch size ${batchSize} is larger than model '${model.name}' accepts (max_batch_size ${maxBatchSize})`);
  }
  const partitionRows = spec.partitionRows ?? DEFAULT_PARTITION_ROWS;
  if (!Number.isSafeInteger(partitionRows) || partitionRows < 1) {
    throw mpError('MP_ERR_JOB_INVALID', `partition rows must be a positive integer, got ${String(spec.partitionRows)}`);
  }
  const resolved: ResolvedSpec = { model: spec.model, input, output, errors, format, outputFormat, batchSize, partitionRows };
  if (spec.version !== undefined) resolved.version = spec.version;
  if (spec.map !== undefined && Object.keys(spec.map).length > 0) resolved.map = spec.map;
  if (spec.idColumn !== undefined) resolved.idColumn = spec.idColumn;
  return resolved;
}

function openJobInput(spec: ResolvedSpec): Promise<InputSource> {
  return openInput(spec.input, { format: spec.format, ...(spec.idColumn !== undefined ? { idColumn: spec.idColumn } : {}) });
}

function newMapper(model: BatchModel, spec: ResolvedSpec): RowMapper {
  return new RowMapper(model.inputs, spec.map, { batched: model.maxBatchSize > 0 });
}

/** The output columns: each model output with its per-row shape (batch dimension removed). */
function outputSchema(model: BatchModel): OutputSchema {
  const batched = model.maxBatchSize > 0;
  return { outputs: model.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape: batched ? shape.slice(1) : [...shape] })) };
}

const utf8 = new TextDecoder();

/** One OutputRow per accepted record, each output a view of its rows' slice of the batch tensor. */
function splitRows(outputs: Tensor[], accepted: readonly InputRecord[], batched: boolean, into: OutputRow[]): void {
  const n = accepted.length;
  const layouts = outputs.map((tensor) => {
    if (batched && tensor.shape[0] !== n) {
      throw mpError('MP_ERR_RUNTIME_FAILED', `output '${tensor.name}' has ${tensor.shape[0]} rows for a batch of ${n}`);
    }
    const rowShape = batched ? tensor.shape.slice(1) : tensor.shape;
    return { tensor, rowShape, per: rowShape.reduce((a, b) => a * b, 1) };
  });
  for (let i = 0; i < n; i++) {
    const record = accepted[i]!;
    const values: OutputValue[] = new Array(layouts.length);
    for (let k = 0; k < layouts.length; k++) {
      const { tensor, rowShape, per } = layouts[k]!;
      const data = tensor.data;
      values[k] = {
        name: tensor.name,
        datatype: tensor.datatype,
        shape: rowShape,
        values: Array.isArray(data) ? data.slice(i * per, (i + 1) * per).map((bytes) => utf8.decode(bytes)) : data.subarray(i * per, (i + 1) * per),
      };
    }
    into.push({ index: record.index, id: record.id, outputs: values });
  }
}

/**
 * How an inference failure is handled. Passing: the server is busy, restarting or slow (tried
 * again after a pause). Row: the request's data was refused or the model failed on it (the rows
 * go to the errors file). Anything else (model unknown or gone, cancelled) ends the job.
 */
function failureClass(error: unknown): 'passing' | 'row' | 'fatal' {
  if (!isModelportError(error)) return 'row';
  switch (error.code) {
    case 'MP_ERR_MODEL_UNKNOWN':
    case 'MP_ERR_MODEL_VERSION_UNKNOWN':
    case 'MP_ERR_MODEL_VERSION_INVALID':
    case 'MP_ERR_JOB_INPUT':
    case 'MP_ERR_JOB_INVALID':
      return 'fatal';
    default:
  }
  switch (error.kind) {
    case 'UNAVAILABLE':
    case 'RESOURCE_EXHAUSTED':
    case 'DEADLINE_EXCEEDED':
      return 'passing';
    case 'INVALID_ARG':
    case 'INTERNAL':
      return 'row';
    default:
      return 'fatal';
  }
}

function isRowError(error: unknown): boolean {
  return failureClass(error) === 'row';
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}

/**
 * Infers, trying again after a pause while the failure is a passing one. Each new try maps its
 * rows again (`remap`): in this process, a request's buffers may have moved to a worker thread.
 */
async function inferWithRetry(
  inferencer: BatchInferencer,
  inputs: Tensor[],
  remap: () => Tensor[],
  attempts: number,
  signal: AbortSignal | undefined,
): Promise<Tensor[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inferencer.infer(attempt === 1 ? inputs : remap());
    } catch (error) {
      if (failureClass(error) !== 'passing' || attempt >= attempts) {
        if (failureClass(error) === 'passing') {
          const failure = toModelportError(error);
          throw mpError(failure.code, `${failure.message} (gave up after ${attempts} tries)`, error);
        }
        throw error;
      }
      await sleep(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1)), signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelledError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelledError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function cancelledError(): ModelportError {
  return mpError('MP_ERR_REQUEST_CANCELLED', 'the batch job was cancelled; partitions already done are kept for --resume');
}

function isCancelled(error: unknown): boolean {
  return isModelportError(error) && error.kind === 'CANCELLED';
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError();
}

async function readManifest(path: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw mpError('MP_ERR_JOB_RESUME', `cannot read the job manifest '${path}': ${(error as Error).message}`, error);
  }
  try {
    return JSON.parse(text) as Manifest;
  } catch (error) {
    throw mpError('MP_ERR_JOB_RESUME', `the job manifest '${path}' is not valid JSON (${(error as Error).message}); run without --resume to start over`, error);
  }
}

/** What differs between the manifest and the job as asked now, in words; empty when it is the same job. */
function manifestChanges(previous: Manifest, now: Pick<Manifest, 'spec' | 'input' | 'model'>): string[] {
  const changes: string[] = [];
  const show = (value: unknown): string => (value === undefined || value === null ? 'none' : JSON.stringify(value));
  const compare = (what: string, before: unknown, after: unknown): void => {
    if (JSON.stringify(before ?? null) !== JSON.stringify(after ?? null)) changes.push(`${what} changed (was ${show(before)}, now ${show(after)})`);
  };
  if (previous.manifestVersion !== MANIFEST_VERSION) {
    return [`the parts were written by another version of the batch engine (manifest version ${show(previous.manifestVersion)}, this one writes ${MANIFEST_VERSION})`];
  }
  const { spec, input, model } = previous;
  compare('input file', spec?.input, now.spec.input);
  if (input?.size !== now.input.size) changes.push(`input file size changed (was ${show(input?.size)} bytes, now ${now.input.size})`);
  else if (input?.mtimeMs !== now.input.mtimeMs) {
    changes.push(`input file was modified (was ${new Date(input?.mtimeMs ?? 0).toISOString()}, now ${new Date(now.input.mtimeMs).toISOString()})`);
  }
  compare('model', model?.name, now.model.name);
  compare('model version', model?.version, now.model.version);
  compare('model digest', model?.digest, now.model.digest);
  compare('model max_batch_size', model?.maxBatchSize, now.model.maxBatchSize);
  compare('model inputs', model?.inputs, now.model.inputs);
  compare('model outputs', model?.outputs, now.model.outputs);
  compare('input format', spec?.format, now.spec.format);
  compare('output format', spec?.outputFormat, now.spec.outputFormat);
  compare('--map', spec?.map, now.spec.map);
  compare('--id-column', spec?.idColumn, now.spec.idColumn);
  compare('--batch-size', spec?.batchSize, now.spec.batchSize);
  compare('rows per partition', spec?.partitionRows, now.spec.partitionRows);
  return changes;
}

/**
 * Empties the parts folder of an earlier run, refusing to touch a folder that holds anything the
 * engine did not write (the name is derived from the output path and might be someone's folder).
 */
async function clearPartsDir(partsDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(partsDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw mpError('MP_ERR_JOB_STATE', `'${partsDir}' exists and is not a folder: the job needs that name for its partial outputs`);
    throw mpError('MP_ERR_JOB_STATE', `cannot read '${partsDir}': ${(error as Error).message}`, error);
  }
  const foreign = entries.filter((name) => !(name === 'manifest.json' || name === 'manifest.json.tmp' || name.startsWith('merged.') || PART_NAME.test(name)));
  if (foreign.length > 0) {
    throw mpError('MP_ERR_JOB_STATE', `'${partsDir}' holds files the batch job did not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); move them away or choose another output`);
  }
  await rm(partsDir, { recursive: true, force: true });
}

/** Writes a small file through a temporary file, fsync and rename, so it is whole or absent. */
async function writeDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { flush: true });
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** Makes renames in `dir` durable; not every platform can fsync a folder, which is then skipped. */
export async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // e.g. EISDIR/EPERM on platforms without directory fsync
  } finally {
    await handle?.close();
  }
}

async function countLines(path: string): Promise<number> {
  const bytes = await readFile(path);
  let lines = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) lines++;
  return lines;
}
