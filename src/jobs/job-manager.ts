/**
 * Batch jobs run by the server itself (the jobs API): a client names a model and an input and an
 * output file under the data root; the job runs in the background through this process's data
 * plane, at BATCH_PRIORITY so that online requests waiting in the same scheduler always go first.
 *
 * Each job is a JSON record in `<dataRoot>/.modelport/jobs/<id>.json`, rewritten (temporary file
 * and rename) on every change of state and, while it runs, about once a second with its progress.
 * The records are the only state: a server that stops (or dies) with jobs queued or running finds
 * them there at its next start and runs them again, the running ones with the engine's resume, so
 * the partitions they had finished are not redone. That is why close() stops running jobs without
 * writing them as cancelled.
 *
 * Jobs run `concurrency` at a time (default 1: a job already keeps every model instance busy, and
 * two would only split the instances between them), the others wait in creation order.
 *
 * A job's engine (reading, parsing and mapping rows, writing outputs) runs on a thread of its own
 * (engine-thread.ts) at a low OS priority; this thread only hands its batches to the data plane.
 * Parsing rows here used to hold online requests up for as long as each block of rows took.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isModelportError, mpError, silentLogger, toModelportError, type Logger } from '../core/index.js';
import type { DataPlaneApi } from '../dataplane/index.js';
import type { BatchInferencer, BatchJobSpec, BatchProgress, BatchSummary } from './batch-types.js';
import { DataRoot, DEFAULT_MAX_UPLOAD_BYTES, STATE_DIR } from './data-root.js';
import { runOnEngineThread } from './engine-thread.js';
import { isDataFormat, type DataFormat } from './formats/index.js';
import { InProcessInferencer } from './inprocess-inferencer.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/**
 * What a client asks for: a job spec whose input and output are paths relative to the data root;
 * refused rows always go beside the output.
 */
export type JobRequest = Omit<BatchJobSpec, 'errors'>;

/** A finished job's summary, with its files as paths relative to the data root. */
export type JobSummary = BatchSummary;

export interface JobRecord {
  id: string;
  state: JobState;
  spec: JobRequest;
  progress: BatchProgress;
  summary?: JobSummary;
  error?: { code: string; message: string };
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Times the job was started: more than 1 when a restart resumed it. */
  runs: number;
}

export interface JobManagerOptions {
  /** Folder every job path is relative to (created if missing). */
  dataRoot: string;
  dataPlane: DataPlaneApi;
  logger?: Logger;
  /** Jobs running at once (default 1). */
  concurrency?: number;
  /** Largest accepted upload, bytes (default 2 GiB). */
  maxUploadBytes?: number;
  /** The model file's digest of a version: recorded in the job's manifest, so a resume after the file changed is refused. */
  digest?: (model: string, version: string) => Promise<string | undefined>;
  /** How a job reaches its model (default: an InProcessInferencer over `dataPlane`); tests pass a fake. */
  createInferencer?: (spec: JobRequest) => BatchInferencer;
  /** Least time between two writes of a running job's progress, ms (default 1000). */
  progressPersistMs?: number;
  /**
   * Run each job's engine thread at the lowest OS scheduling priority (default true), so that when
   * cores are short the threads serving online requests get them first.
   */
  lowPriority?: boolean;
}

/** Batches a server job keeps in flight per model instance. */
const JOB_BATCHES_PER_INSTANCE = 2;
const ENDED: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);
const ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
/** Files the engine writes in `<output>.parts/`; a folder holding anything else is not removed. */
const ENGINE_FILE = /^(manifest\.json(\.tmp)?|merged\..+|part-\d{5,}\..+)$/;

interface Job {
  record: JobRecord;
  controller?: AbortController;
  /** Resolves once the run in progress has stopped and its outcome is recorded. */
  running?: Promise<void>;
  cancelRequested: boolean;
  /** Absolute path of its output as resolved when it was created (or loaded): jobs must not share one. */
  output?: string;
  /** Writes of this job's record, one after another. */
  writes: Promise<void>;
  lastWrite: number;
}

export class JobManager {
  readonly #options: JobManagerOptions;
  readonly #logger: Logger;
  readonly #jobs = new Map<string, Job>();
  readonly #queue: Job[] = [];
  readonly #active = new Set<Job>();
  /** Jobs checked and being written, not yet listed. */
  readonly #creating = new Set<Job>();
  readonly #concurrency: number;
  #root: DataRoot | undefined;
  #recordsDir = '';
  #started = false;
  #closing = false;

  constructor(options: JobManagerOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
  }

  /**
   * Opens the data root, reads the job records and queues every job that was queued or running
   * when the server last stopped (oldest first; those that were running resume their partitions).
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#root = await DataRoot.open(this.#options.dataRoot);
    this.#recordsDir = join(this.#root.path, STATE_DIR, 'jobs');
    await mkdir(this.#recordsDir, { recursive: true });
    const records = await this.#readRecords();
    records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    let resumed = 0;
    for (const record of records) {
      const job: Job = { record, cancelRequested: false, writes: Promise.resolve(), lastWrite: 0 };
      this.#jobs.set(record.id, job);
      if (!ENDED.has(record.state)) {
        // A path that no longer resolves fails the job when it starts; it just holds no output here.
        job.output = await this.#root.output(record.spec.output).catch(() => undefined);
        // Waits for a slot like any other; runs > 0 makes its next run a resume.
        record.state = 'queued';
        this.#queue.push(job);
        resumed++;
      }
    }
    this.#started = true;
    if (resumed > 0) this.#logger.info({ jobs: resumed }, 'resuming batch jobs left unfinished');
    this.#pump();
  }

  /** Checks the request, records the job as queued and returns its record; it runs in the background. */
  async create(request: JobRequest): Promise<JobRecord> {
    const root = this.#ready();
    const spec = normalizeRequest(request);
    // Unknown model or version: refused now rather than as a failed job.
    this.#options.dataPlane.modelMetadata(spec.model, spec.version);
    const input = await root.input(spec.input);
    const output = await root.output(spec.output);
    // From here to the job's insertion nothing awaits, so two creates cannot both pass this check.
    for (const other of [...this.#jobs.values(), ...this.#creating]) {
      if (ENDED.has(other.record.state) || other.output === undefined) continue;
      if (other.output === output) {
        throw mpError('MP_ERR_JOB_STATE', `job ${other.record.id} is already writing '${spec.output}'; wait for it or cancel it`);
      }
      if (other.output === input) {
        throw mpError('MP_ERR_JOB_STATE', `job ${other.record.id} is writing '${spec.input}', this job's input; wait for it to finish`);
      }
    }
    const record: JobRecord = {
      id: randomUUID(),
      state: 'queued',
      spec,
      progress: { rowsDone: 0, rowsFailed: 0, partitionsDone: 0, elapsedMs: 0 },
      createdAt: new Date().toISOString(),
      startedAt: null,
      endedAt: null,
      runs: 0,
    };
    const job: Job = { record, cancelRequested: false, output, writes: Promise.resolve(), lastWrite: 0 };
    this.#creating.add(job);
    try {
      await this.#persist(job, true);
    } finally {
      this.#creating.delete(job);
    }
    this.#jobs.set(record.id, job);
    this.#queue.push(job);
    this.#logger.info({ job: record.id, model: spec.model, input: spec.input, output: spec.output }, 'batch job created');
    // The record as created (queued), even when a free slot starts it right away.
    const created = snapshot(record);
    this.#pump();
    return created;
  }

  /** Every job, newest first. */
  list(): JobRecord[] {
    return [...this.#jobs.values()].map((job) => snapshot(job.record)).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  get(id: string): JobRecord {
    return snapshot(this.#job(id).record);
  }

  /**
   * Cancels a queued or running job: a queued one at once, a running one once its batches in
   * flight are answered (resolves then). Its partial results are removed. MP_ERR_JOB_STATE when
   * the job has already ended.
   */
  async cancel(id: string): Promise<JobRecord> {
    const job = this.#job(id);
    const { record } = job;
    if (ENDED.has(record.state)) throw mpError('MP_ERR_JOB_STATE', `job ${id} has already ${record.state === 'cancelled' ? 'been cancelled' : record.state}`);
    job.cancelRequested = true;
    if (record.state === 'queued' && job.running === undefined) {
      const at = this.#queue.indexOf(job);
      if (at >= 0) this.#queue.splice(at, 1);
      this.#end(job, 'cancelled');
      await this.#persist(job);
      if (record.runs > 0) await this.#removeParts(record.spec.output);
      this.#logger.info({ job: id }, 'batch job cancelled');
      return snapshot(record);
    }
    job.controller?.abort(mpError('MP_ERR_REQUEST_CANCELLED', `job ${id} was cancelled`));
    await job.running;
    return snapshot(record);
  }

  /** Stores an uploaded input file under `uploads/` and returns its path relative to the data root. */
  async upload(body: Readable, options: { format: DataFormat }): Promise<{ path: string }> {
    const root = this.#ready();
    if (!isDataFormat(options.format)) throw mpError('MP_ERR_JOB_INVALID', `upload format must be one of jsonl, csv, parquet; got '${String(options.format)}'`);
    const path = await root.storeUpload(body, options.format, this.#options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES);
    this.#logger.info({ path }, 'batch input uploaded');
    return { path };
  }

  /**
   * Takes no more jobs and stops the running ones between batches. Their records keep saying
   * `running` (and queued ones `queued`), so the next start() resumes them.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const running = [...this.#active];
    for (const job of running) job.controller?.abort(mpError('MP_ERR_SERVER_STOPPING', 'the server is stopping; the job resumes at its next start'));
    await Promise.all(running.map((job) => job.running));
    await Promise.all([...this.#jobs.values()].map((job) => job.writes));
  }

  #ready(): DataRoot {
    if (this.#closing) throw mpError('MP_ERR_SERVER_STOPPING', 'the server is stopping and takes no new batch jobs');
    if (!this.#started || this.#root === undefined) throw mpError('MP_ERR_SERVER_STOPPING', 'the batch jobs service is not started yet');
    return this.#root;
  }

  #job(id: string): Job {
    const job = this.#jobs.get(id);
    if (job === undefined) throw mpError('MP_ERR_JOB_UNKNOWN', `no batch job '${id}'`);
    return job;
  }

  /** Starts queued jobs while slots are free. */
  #pump(): void {
    while (!this.#closing && this.#active.size < this.#concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#active.add(job);
      job.running = this.#run(job).finally(() => {
        this.#active.delete(job);
        job.running = undefined;
        job.controller = undefined;
        this.#pump();
      });
    }
  }

  async #run(job: Job): Promise<void> {
    const { record } = job;
    const root = this.#root!;
    const controller = new AbortController();
    job.controller = controller;
    // A job that ran before (the server stopped or died meanwhile) continues from its done partitions.
    const resume = record.runs > 0;
    record.state = 'running';
    record.runs++;
    record.startedAt ??= new Date().toISOString();
    await this.#persist(job);
    this.#logger.info({ job: record.id, resume }, 'batch job started');
    let inferencer: BatchInferencer | undefined;
    try {
      // Checked again: the paths must still lead inside the root now that the job starts.
      const spec = await this.#engineSpec(record.spec);
      inferencer = this.#inferencer(record.spec);
      const summary = await runOnEngineThread(spec, inferencer, {
        resume,
        signal: controller.signal,
        lowPriority: this.#options.lowPriority ?? true,
        // One batch running and one waiting per instance: enough to keep the instances busy
        // between online requests, and no more (online requests go before waiting batches, but
        // not before one that is running).
        batchesPerInstance: JOB_BATCHES_PER_INSTANCE,
        onProgress: (progress) => {
          record.progress = progress;
          if (Date.now() - job.lastWrite >= (this.#options.progressPersistMs ?? 1000)) void this.#persist(job);
        },
      });
      record.summary = { ...summary, output: root.relative(summary.output), errors: root.relative(summary.errors) };
      record.progress = progressOf(summary);
      this.#end(job, 'succeeded');
      this.#logger.info({ job: record.id, rows: summary.rowsIn, failed: summary.rowsFailed, ms: Math.round(summary.elapsedMs) }, 'batch job succeeded');
    } catch (error) {
      if (this.#closing && !job.cancelRequested) {
        // Left as it is on disk (running): the next start resumes it.
        this.#logger.info({ job: record.id, partitionsDone: record.progress.partitionsDone }, 'batch job stopped with the server');
      } else if (job.cancelRequested) {
        this.#end(job, 'cancelled');
        this.#logger.info({ job: record.id }, 'batch job cancelled');
        await this.#removeParts(record.spec.output);
      } else {
        const failure = toModelportError(error);
        record.error = { code: failure.code, message: failure.message };
        this.#end(job, 'failed');
        this.#logger.warn({ job: record.id, code: failure.code, error: failure.message }, 'batch job failed');
        if (!isModelportError(error)) this.#logger.error({ job: record.id, err: error }, 'batch job failed unexpectedly');
        await this.#removeParts(record.spec.output);
      }
    } finally {
      await inferencer?.close?.().catch(() => undefined);
    }
    await this.#persist(job);
  }

  /** The engine's spec: the request with absolute paths checked to be inside the root. */
  async #engineSpec(request: JobRequest): Promise<BatchJobSpec> {
    const root = this.#root!;
    const spec: BatchJobSpec = { ...request, input: await root.input(request.input), output: await root.output(request.output) };
    return spec;
  }

  #inferencer(spec: JobRequest): BatchInferencer {
    if (this.#options.createInferencer) return this.#options.createInferencer(spec);
    const digest = this.#options.digest;
    return new InProcessInferencer(this.#options.dataPlane, {
      model: spec.model,
      ...(spec.version !== undefined ? { version: spec.version } : {}),
      ...(digest ? { digest: (version: string) => digest(spec.model, version) } : {}),
    });
  }

  #end(job: Job, state: JobState): void {
    job.record.state = state;
    job.record.endedAt = new Date().toISOString();
  }

  /**
   * Removes the partial results of a job that will not resume (cancelled or failed), but only a
   * parts folder holding nothing but the engine's files.
   */
  async #removeParts(output: string): Promise<void> {
    try {
      const partsDir = `${await this.#root!.output(output)}.parts`;
      const names = await readdir(partsDir);
      if (names.every((name) => ENGINE_FILE.test(name))) await rm(partsDir, { recursive: true, force: true });
    } catch {
      // Nothing there, or not ours to remove.
    }
  }

  /**
   * Writes the job's record (temporary file, rename); writes of one job never overlap. Only a
   * `strict` write (the one that creates the job) rejects; a later failed write is logged and the
   * next one tries again.
   */
  #persist(job: Job, strict = false): Promise<void> {
    job.lastWrite = Date.now();
    const write = job.writes.then(async () => {
      const file = join(this.#recordsDir, `${job.record.id}.json`);
      const tmp = `${file}.tmp`;
      await writeFile(tmp, `${JSON.stringify(job.record, null, 2)}\n`);
      await rename(tmp, file);
    });
    job.writes = write.catch((error: unknown) => {
      this.#logger.warn({ job: job.record.id, error: (error as Error).message }, 'cannot write the batch job record');
    });
    return strict ? write : job.writes;
  }

  async #readRecords(): Promise<JobRecord[]> {
    const records: JobRecord[] = [];
    for (const name of await readdir(this.#recordsDir)) {
      if (!name.endsWith('.json')) continue;
      const file = join(this.#recordsDir, name);
      try {
        const record = JSON.parse(await readFile(file, 'utf8')) as JobRecord;
        if (typeof record.id !== 'string' || !ID_PATTERN.test(record.id) || typeof record.spec !== 'object' || typeof record.state !== 'string') {
          throw new Error('not a job record');
        }
        record.runs ??= 0;
        records.push(record);
      } catch (error) {
        this.#logger.warn({ file, error: (error as Error).message }, 'skipping an unreadable batch job record');
      }
    }
    return records;
  }
}

/** Checks a request's fields and keeps only the known ones (a record must not carry anything else). */
function normalizeRequest(request: JobRequest): JobRequest {
  if (request === null || typeof request !== 'object') throw mpError('MP_ERR_JOB_INVALID', 'the job must be an object');
  const { model, version, input, output, format, outputFormat, map, batchSize, idColumn, partitionRows } = request;
  if (typeof model !== 'string' || model === '') throw mpError('MP_ERR_JOB_INVALID', 'the job needs a model name');
  if (typeof input !== 'string' || input === '') throw mpError('MP_ERR_JOB_INVALID', 'the job needs an input path');
  if (typeof output !== 'string' || output === '') throw mpError('MP_ERR_JOB_INVALID', 'the job needs an output path');
  const spec: JobRequest = { model, input, output };
  if (version !== undefined) {
    if (typeof version !== 'string' || version === '') throw mpError('MP_ERR_JOB_INVALID', 'version must be a non-empty string');
    spec.version = version;
  }
  if (format !== undefined) {
    if (!isDataFormat(format)) throw mpError('MP_ERR_JOB_INVALID', `format must be one of jsonl, csv, parquet; got '${String(format)}'`);
    spec.format = format;
  }
  if (outputFormat !== undefined) {
    if (!isDataFormat(outputFormat)) throw mpError('MP_ERR_JOB_INVALID', `output format must be one of jsonl, csv, parquet; got '${String(outputFormat)}'`);
    spec.outputFormat = outputFormat;
  }
  if (map !== undefined) {
    const valid = map !== null && typeof map === 'object' && !Array.isArray(map) &&
      Object.values(map).every((fields) => Array.isArray(fields) && fields.length > 0 && fields.every((f) => typeof f === 'string' && f !== ''));
    if (!valid) throw mpError('MP_ERR_JOB_INVALID', 'map must map each model input to a non-empty list of field names');
    spec.map = structuredClone(map);
  }
  if (batchSize !== undefined) spec.batchSize = positiveInteger(batchSize, 'batch size');
  if (partitionRows !== undefined) spec.partitionRows = positiveInteger(partitionRows, 'partition rows');
  if (idColumn !== undefined) {
    if (typeof idColumn !== 'string' || idColumn === '') throw mpError('MP_ERR_JOB_INVALID', 'id column must be a non-empty string');
    spec.idColumn = idColumn;
  }
  return spec;
}

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw mpError('MP_ERR_JOB_INVALID', `${what} must be a positive integer, got ${JSON.stringify(value)}`);
  return value;
}

function progressOf(summary: BatchSummary): BatchProgress {
  const { rowsDone, rowsFailed, rowsTotal, partitionsDone, partitionsTotal, elapsedMs } = summary;
  return { rowsDone, rowsFailed, partitionsDone, elapsedMs, ...(rowsTotal !== undefined ? { rowsTotal } : {}), ...(partitionsTotal !== undefined ? { partitionsTotal } : {}) };
}

/** A copy callers may keep or change without touching the live record. */
function snapshot(record: JobRecord): JobRecord {
  return structuredClone(record);
}
