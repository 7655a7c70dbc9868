/**
 * A worker of distributed batch jobs (`modelport worker`): takes partition messages from pg-boss,
 * runs each partition with the engine's runPartition against a model loaded in this process, and
 * records it done; the worker that records the last partition of a job queues the job's merge,
 * which any worker then performs.
 *
 * Exactly-once results from at-least-once delivery:
 * - A message whose worker died (SIGKILL, a lost machine) is not acknowledged; once its expiry
 *   (the job's partition timeout) has passed, pg-boss's maintenance hands it out again.
 * - A partition is first written into a folder of its own under `<output>.parts.staging/`, then
 *   its two files are renamed into the parts folder under the engine's names (errors part first,
 *   the output part, whose presence means done, last). Two tries of one partition running at once
 *   (a slow worker presumed dead) therefore never share a file, and as a partition always writes
 *   the same bytes, whichever rename comes last leaves the same content.
 * - The parts folder belongs to one job (its output), each part file to one partition, and a
 *   worker runs a partition only with the model file the job was planned with: the digest in the
 *   plan must match the one this worker loaded, or the message goes back for another worker.
 * - Marking a partition done, and moving the job to merging, are conditional UPDATEs: counted once.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type PgBoss from 'pg-boss';
import { isModelportError, mpError, silentLogger, toModelportError, type Logger } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import { BatchEngine, errorPartPath, partPath, syncDir, type BatchPlan } from '../batch-engine.js';
import type { BatchModel, BatchSummary } from '../batch-types.js';
import { InProcessInferencer, type DescribedModel } from '../inprocess-inferencer.js';
import { BatchStore, DEAD_QUEUE, MERGE_QUEUE, openBoss, PARTITION_QUEUE, type MergeMessage, type PartitionMessage } from './batch-store.js';
import { mergeParts, stagingDir } from './merge-parts.js';

/** A model loaded in this process (what the app's openLocalModel gives). */
export interface WorkerModel {
  dataPlane: DataPlaneApi;
  digest(version: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface BatchWorkerOptions {
  /** postgres:// URL of the database the jobs are queued in. */
  url: string;
  /** Loads a model by name (once per model; kept until the worker stops). */
  openModel: (model: string) => Promise<WorkerModel>;
  /** Partitions this worker runs at once (default 1). */
  concurrency?: number;
  /** Batches in flight per partition (default: twice the model's instances, at least 2). */
  batchConcurrency?: number;
  /** Name in the partitions table and the logs (default host:pid). */
  id?: string;
  logger?: Logger;
  /** How often an idle worker asks for work, seconds (default 0.5, pg-boss's least). */
  pollingIntervalSeconds?: number;
  /** How often expired partitions (of dead workers) are looked for, seconds (default 5). */
  maintenanceIntervalSeconds?: number;
  /** Least time between two progress writes of a running partition, ms (default 1000). */
  progressIntervalMs?: number;
}

export interface BatchWorker {
  readonly id: string;
  /** Stops taking work, stops the partitions running (they are handed out again) and closes the models. */
  stop(): Promise<void>;
}

/** Seconds before a failed partition is tried again. */
const RETRY_DELAY_SECS = 2;

export async function runWorker(options: BatchWorkerOptions): Promise<BatchWorker> {
  const worker = new Worker(options);
  await worker.start();
  return worker;
}

class Worker implements BatchWorker {
  readonly id: string;
  readonly #options: BatchWorkerOptions;
  readonly #logger: Logger;
  readonly #engine = new BatchEngine();
  readonly #models = new Map<string, Promise<WorkerModel>>();
  readonly #running = new Set<AbortController>();
  #boss: PgBoss | undefined;
  #store: BatchStore | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: BatchWorkerOptions) {
    this.#options = options;
    this.id = options.id ?? `${hostname()}:${process.pid}`;
    this.#logger = (options.logger ?? silentLogger).child({ worker: this.id });
  }

  async start(): Promise<void> {
    const boss = await openBoss({
      url: this.#options.url,
      logger: this.#logger,
      supervise: true,
      maintenanceIntervalSeconds: this.#options.maintenanceIntervalSeconds ?? 5,
      poolSize: 2 + Math.max(1, this.#options.concurrency ?? 1),
    });
    this.#boss = boss;
    this.#store = new BatchStore(boss.getDb());
    const polling = { batchSize: 1, pollingIntervalSeconds: this.#options.pollingIntervalSeconds ?? 0.5 };
    for (let i = 0; i < Math.max(1, this.#options.concurrency ?? 1); i++) {
      let loop = '';
      loop = await boss.work<PartitionMessage>(PARTITION_QUEUE, polling, async ([message]) => {
        if (!message) return;
        try {
          await this.#partition(message.data);
        } finally {
          // pg-boss waits out the rest of its polling interval after each message; the next
          // partition is likely waiting already, so ask for it at once.
          if (loop !== '' && this.#stopping === undefined) boss.notifyWorker(loop);
        }
      });
    }
    await boss.work<MergeMessage>(MERGE_QUEUE, polling, async ([message]) => {
      if (message) await this.#merge(message.data.job);
    });
    await boss.work<PartitionMessage | MergeMessage>(DEAD_QUEUE, polling, async ([message]) => {
      if (message) await this.#dead(message.data);
    });
    this.#logger.info({ concurrency: Math.max(1, this.#options.concurrency ?? 1) }, 'batch worker ready');
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#logger.info('batch worker stopping');
    for (const controller of this.#running) controller.abort();
    await this.#boss?.stop({ graceful: true, wait: true, timeout: 30_000 });
    for (const model of this.#models.values()) await model.then((m) => m.close()).catch(() => undefined);
    this.#logger.info('batch worker stopped');
  }

  /** Runs one partition message (see the file comment for why each step is safe to repeat). */
  async #partition({ job: jobId, partition: index }: PartitionMessage): Promise<void> {
    const store = this.#store!;
    const job = await store.job(jobId);
    if (job === undefined) return;
    if (job.state === 'merging') return this.#queueMerge(jobId, job.timeoutSecs, job.retryLimit);
    if (job.state !== 'running') return;
    const plan = job.plan;
    const partition = plan.partitions.find((p) => p.index === index);
    if (partition === undefined) {
      await store.failJob(jobId, `partition ${index} is not in the job's plan`);
      return;
    }
    if (!(await store.startPartition(jobId, index, this.id))) {
      // Done already (this message was delivered again): only the merge may still be owed.
      await this.#afterPartition(jobId, job.timeoutSecs, job.retryLimit);
      return;
    }
    const log = this.#logger.child({ job: jobId, partition: index });
    const started = performance.now();
    const controller = new AbortController();
    this.#running.add(controller);
    let jobEnded = false;
    let rowsDone = 0;
    let rowsFailed = 0;
    let flushing: Promise<void> = Promise.resolve();
    const flush = (): void => {
      flushing = flushing.then(async () => {
        const state = await store.progress(jobId, index, this.id, rowsDone, rowsFailed).catch(() => 'running' as const);
        // Cancelled, or failed by another partition: no point finishing this one.
        if (state !== 'running') {
          jobEnded = true;
          controller.abort();
        }
      });
    };
    const timer = setInterval(flush, this.#options.progressIntervalMs ?? 1000);
    const staging = join(stagingDir(plan), `${String(index).padStart(5, '0')}-${randomUUID().slice(0, 8)}`);
    try {
      const model = await this.#model(plan.model.name);
      const inferencer = new InProcessInferencer(model.dataPlane, {
        model: plan.model.name,
        version: plan.model.version,
        digest: (version) => model.digest(version),
      });
      const described = await inferencer.describe();
      assertSameModel(plan, described, this.id);
      const instances = described.instances ?? 1;
      await mkdir(staging, { recursive: true });
      const result = await this.#engine.runPartition({ ...plan, partsDir: staging }, partition, inferencer, {
        concurrency: this.#options.batchConcurrency ?? Math.max(2, 2 * instances),
        signal: controller.signal,
        onRows: (written, failed) => {
          rowsDone += written + failed;
          rowsFailed += failed;
        },
      });
      // Into the parts folder under the engine's names; the output part last, as it marks done.
      await rename(errorPartPath(staging, partition), errorPartPath(plan.partsDir, partition));
      await rename(partPath(staging, partition, plan.spec.outputFormat), partPath(plan.partsDir, partition, plan.spec.outputFormat));
      await syncDir(plan.partsDir);
      const counted = await store.finishPartition(jobId, index, this.id, result.rowsOut + result.rowsFailed, result.rowsFailed);
      log.info({ rows: result.rowsOut + result.rowsFailed, failed: result.rowsFailed, ms: Math.round(performance.now() - started), counted }, 'partition done');
      await this.#afterPartition(jobId, job.timeoutSecs, job.retryLimit);
    } catch (error) {
      const failure = toModelportError(error);
      if (jobEnded) {
        log.info('partition stopped: the job ended');
        await store.releasePartition(jobId, index, this.id, 'the job ended').catch(() => undefined);
        return;
      }
      if (this.#stopping !== undefined) {
        await store.releasePartition(jobId, index, this.id, 'its worker stopped').catch(() => undefined);
        throw failure;
      }
      if (isFatal(failure)) {
        log.warn({ code: failure.code, error: failure.message }, 'partition failed; failing the job');
        await store.failJob(jobId, `partition ${index}: ${failure.message}`);
        return;
      }
      log.warn({ code: failure.code, error: failure.message }, 'partition failed; it will be tried again');
      await store.releasePartition(jobId, index, this.id, failure.message).catch(() => undefined);
      throw failure;
    } finally {
      clearInterval(timer);
      this.#running.delete(controller);
      await flushing.catch(() => undefined);
      // Only this try's own folder: the staging root is shared with the partitions running
      // elsewhere, and the merge removes it.
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** After a partition is done: the worker whose UPDATE moves the job to merging queues the merge. */
  async #afterPartition(jobId: string, timeoutSecs: number, retryLimit: number): Promise<void> {
    const store = this.#store!;
    if (await store.claimMerge(jobId)) {
      this.#logger.info({ job: jobId }, 'last partition done; queueing the merge');
      await this.#queueMerge(jobId, timeoutSecs, retryLimit);
    } else if ((await store.jobState(jobId)) === 'merging') {
      // A merge claimed by a worker that died before queueing it: queue it again (a merge
      // message already waiting makes this one a no-op).
      await this.#queueMerge(jobId, timeoutSecs, retryLimit);
    }
  }

  async #queueMerge(jobId: string, timeoutSecs: number, retryLimit: number): Promise<void> {
    await this.#boss!.send(MERGE_QUEUE, { job: jobId } satisfies MergeMessage, {
      singletonKey: jobId,
      expireInSeconds: timeoutSecs,
      retryLimit,
      retryDelay: RETRY_DELAY_SECS,
      deadLetter: DEAD_QUEUE,
    });
  }

  async #merge(jobId: string): Promise<void> {
    const store = this.#store!;
    const job = await store.job(jobId);
    if (job === undefined || job.state !== 'merging') return;
    const started = performance.now();
    try {
      const outcome = await mergeParts(job.plan);
      const status = await store.status(jobId);
      const summary = summaryOf(job.plan, status, performance.now() - started);
      if (await store.finishJob(jobId, this.id, summary)) {
        this.#logger.info({ job: jobId, outcome, rows: summary.rowsIn, failed: summary.rowsFailed, output: job.plan.spec.output }, 'batch job merged');
      }
    } catch (error) {
      const failure = toModelportError(error);
      if (failure.code === 'MP_ERR_JOB_STATE') {
        // Parts missing: nothing a retry could fix.
        await store.failJob(jobId, failure.message);
        this.#logger.warn({ job: jobId, error: failure.message }, 'batch job merge failed');
        return;
      }
      throw failure;
    }
  }

  /** A message that failed on every try: its job cannot complete. */
  async #dead(message: PartitionMessage | MergeMessage): Promise<void> {
    const store = this.#store!;
    if ('partition' in message) {
      const reason = (await store.partitionError(message.job, message.partition)) ?? 'its worker stopped answering on every try';
      if (await store.failJob(message.job, `partition ${message.partition} failed on every try; last: ${reason}`)) {
        this.#logger.warn({ job: message.job, partition: message.partition, error: reason }, 'partition failed on every try; job failed');
      }
    } else if (await store.failJob(message.job, 'the merge failed on every try')) {
      this.#logger.warn({ job: message.job }, 'merge failed on every try; job failed');
    }
  }

  #model(name: string): Promise<WorkerModel> {
    let model = this.#models.get(name);
    if (model === undefined) {
      model = this.#options.openModel(name);
      this.#models.set(name, model);
      // A model that failed to load is tried again for the next partition, not cached as failed.
      model.catch(() => this.#models.delete(name));
    }
    return model;
  }
}

/** The model this worker loaded must be the one the job was planned with, or its rows would differ. */
function assertSameModel(plan: BatchPlan, described: DescribedModel, worker: string): void {
  const planned = plan.model;
  const differences: string[] = [];
  if ((planned.digest ?? null) !== (described.digest ?? null)) differences.push(`digest ${described.digest ?? 'unknown'}, the job's is ${planned.digest ?? 'unknown'}`);
  if (planned.maxBatchSize !== described.maxBatchSize) differences.push(`max_batch_size ${described.maxBatchSize}, the job's is ${planned.maxBatchSize}`);
  // Compared field by field: the plan went through jsonb, which does not keep key order.
  const signature = (specs: BatchModel['inputs']) => specs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`).join(' ');
  if (signature(planned.inputs) !== signature(described.inputs) || signature(planned.outputs) !== signature(described.outputs)) {
    differences.push(`inputs ${signature(described.inputs)} → outputs ${signature(described.outputs)}, the job's are ${signature(planned.inputs)} → ${signature(planned.outputs)}`);
  }
  if (differences.length > 0) {
    throw mpError('MP_ERR_JOB_RESUME', `worker ${worker} has model '${planned.name}' version ${planned.version} with ${differences.join(', ')}`);
  }
}

/** Failures a retry cannot fix: the job's input or settings are wrong for every worker. */
function isFatal(error: unknown): boolean {
  return isModelportError(error) && (error.code === 'MP_ERR_JOB_INPUT' || error.code === 'MP_ERR_JOB_INVALID');
}

function summaryOf(plan: BatchPlan, status: Awaited<ReturnType<BatchStore['status']>>, mergeMs: number): BatchSummary {
  const rowsFailed = status?.rowsFailed ?? 0;
  const elapsedMs = status?.elapsedMs ?? mergeMs;
  return {
    rowsDone: plan.rows,
    rowsFailed,
    rowsTotal: plan.rows,
    partitionsDone: plan.partitions.length,
    partitionsTotal: plan.partitions.length,
    elapsedMs,
    rowsIn: plan.rows,
    rowsOut: plan.rows - rowsFailed,
    output: plan.spec.output,
    errors: plan.spec.errors,
    rowsPerSecond: elapsedMs > 0 ? (plan.rows * 1000) / elapsedMs : 0,
    partitionsResumed: 0,
  };
}
