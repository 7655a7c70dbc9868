/**
 * The submitting side of distributed batch jobs: plans a job (the engine's plan: the input scanned
 * into partitions, the manifest written into the shared parts folder), records it with its
 * partitions in Postgres and queues one pg-boss message per partition, keyed
 * `<job>:<partition>`; then reads the job's status (aggregated over every worker), waits for it,
 * or cancels it. The workers (batch-worker.ts) do the rest, the merge included, so a submitter
 * may go away once the job is queued.
 *
 * Paths in the plan are absolute as resolved here: workers on other machines must see the input
 * and the output's folder at the same paths (a shared file system).
 */
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type PgBoss from 'pg-boss';
import { mpError, silentLogger, type Logger } from '../../core/index.js';
import { BatchEngine, errorPartPath, type BatchPlan } from '../batch-engine.js';
import type { BatchJobSpec, BatchModel, BatchProgress } from '../batch-types.js';
import { BatchStore, DEAD_QUEUE, MERGE_QUEUE, openBoss, PARTITION_QUEUE, type DistributedJobStatus, type MergeMessage, type PartitionMessage } from './batch-store.js';
import { stagingDir } from './merge-parts.js';

export interface BatchQueueOptions {
  /** postgres:// URL of the database shared with the workers. */
  url: string;
  logger?: Logger;
}

export interface SubmitOptions {
  /** The job's id (default: a new UUID). */
  id?: string;
  /**
   * Seconds a worker may hold a partition; past that it is presumed dead and the partition goes
   * to another worker (default 900). Keep it well above the time one partition takes.
   */
  partitionTimeoutSecs?: number;
  /** Tries of a partition after the first before the job fails (default 10). */
  retryLimit?: number;
  /** Continue the job whose manifest is in the parts folder, keeping its done partitions. */
  resume?: boolean;
}

export interface WaitOptions {
  onProgress?: (status: DistributedJobStatus) => void;
  /** Stops waiting (the job itself goes on). */
  signal?: AbortSignal;
  /** Between two status reads, ms (default 500). */
  pollMs?: number;
}

const DEFAULT_PARTITION_TIMEOUT_SECS = 900;
const DEFAULT_RETRY_LIMIT = 10;
const RETRY_DELAY_SECS = 2;
const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

export class BatchQueue {
  readonly #boss: PgBoss;
  readonly #store: BatchStore;
  readonly #logger: Logger;
  readonly #engine = new BatchEngine();

  private constructor(boss: PgBoss, logger: Logger) {
    this.#boss = boss;
    this.#store = new BatchStore(boss.getDb());
    this.#logger = logger;
  }

  static async open(options: BatchQueueOptions): Promise<BatchQueue> {
    const logger = options.logger ?? silentLogger;
    return new BatchQueue(await openBoss({ url: options.url, logger, supervise: false, poolSize: 2 }), logger);
  }

  /**
   * Plans `spec` for `model` (as described by a copy of the model the workers load: its digest
   * pins the model file every partition must run with), records the job and queues its partitions.
   */
  async submit(spec: BatchJobSpec, model: BatchModel, options: SubmitOptions = {}): Promise<DistributedJobStatus> {
    const id = options.id ?? randomUUID();
    const timeoutSecs = positive(options.partitionTimeoutSecs ?? DEFAULT_PARTITION_TIMEOUT_SECS, 'partition timeout');
    const retryLimit = options.retryLimit ?? DEFAULT_RETRY_LIMIT;
    if (!Number.isSafeInteger(retryLimit) || retryLimit < 0) throw mpError('MP_ERR_JOB_INVALID', `retry limit must be an integer ≥ 0, got ${retryLimit}`);
    if (model.digest === undefined) {
      // Without it, workers holding different files under the same version could mix their rows.
      throw mpError('MP_ERR_JOB_INVALID', `model '${model.name}' version ${model.version} has no digest; a distributed job needs one to pin the model file`);
    }
    const running = await this.#store.activeJobFor(resolve(spec.output));
    if (running !== undefined) throw mpError('MP_ERR_JOB_STATE', `job ${running} is already writing '${spec.output}'; wait for it or cancel it`);

    const plan = await this.#engine.plan(spec, model, { resume: options.resume === true });
    if (plan.partitions.length === 0) throw mpError('MP_ERR_JOB_INPUT', `input '${spec.input}' has no rows`);
    if (!plan.resumed) await rm(stagingDir(plan), { recursive: true, force: true });
    const done = await donePartitions(this.#engine, plan);
    await this.#store.insertJob(id, plan, { timeoutSecs, retryLimit, done });

    const messages: PgBoss.JobInsert<PartitionMessage>[] = plan.partitions
      .filter((p) => !done.has(p.index))
      .map((p) => ({
        name: PARTITION_QUEUE,
        data: { job: id, partition: p.index },
        singletonKey: `${id}:${p.index}`,
        expireInSeconds: timeoutSecs,
        retryLimit,
        retryDelay: RETRY_DELAY_SECS,
        deadLetter: DEAD_QUEUE,
      }));
    if (messages.length > 0) {
      await this.#boss.insert(messages);
    } else if (await this.#store.claimMerge(id)) {
      // Every partition was done by an earlier run: only the merge is left.
      await this.#boss.send(MERGE_QUEUE, { job: id } satisfies MergeMessage, { singletonKey: id, expireInSeconds: timeoutSecs, retryLimit, retryDelay: RETRY_DELAY_SECS, deadLetter: DEAD_QUEUE });
    }
    this.#logger.info({ job: id, partitions: plan.partitions.length, queued: messages.length, rows: plan.rows }, 'distributed batch job submitted');
    return this.status(id);
  }

  async status(id: string): Promise<DistributedJobStatus> {
    const status = await this.#store.status(id);
    if (status === undefined) throw mpError('MP_ERR_JOB_UNKNOWN', `no distributed batch job '${id}'`);
    return status;
  }

  /** Polls the job's status until it ends (or `signal` stops the wait) and answers the last one. */
  async wait(id: string, options: WaitOptions = {}): Promise<DistributedJobStatus> {
    const pollMs = options.pollMs ?? 500;
    for (;;) {
      const status = await this.status(id);
      options.onProgress?.(status);
      if (ENDED.has(status.state)) return status;
      if (options.signal?.aborted) throw mpError('MP_ERR_REQUEST_CANCELLED', `stopped waiting for job ${id}; it goes on on the workers`);
      await sleep(pollMs, options.signal);
    }
  }

  /** Cancels a running job: workers drop its partitions. MP_ERR_JOB_STATE once it is merging or ended. */
  async cancel(id: string): Promise<DistributedJobStatus> {
    if (!(await this.#store.cancelJob(id))) {
      const status = await this.status(id);
      throw mpError('MP_ERR_JOB_STATE', `job ${id} is ${status.state} and can no longer be cancelled`);
    }
    return this.status(id);
  }

  async close(): Promise<void> {
    await this.#boss.stop({ graceful: false, wait: true });
  }
}

/** Plans, records and queues one job, then lets go of the connection. */
export async function submitDistributedJob(
  spec: BatchJobSpec,
  options: BatchQueueOptions & SubmitOptions & { model: BatchModel },
): Promise<DistributedJobStatus> {
  const queue = await BatchQueue.open(options);
  try {
    return await queue.submit(spec, options.model, options);
  } finally {
    await queue.close();
  }
}

/** The engine's progress shape, for callers that show either kind of job the same way. */
export function progressOf(status: DistributedJobStatus): BatchProgress {
  return {
    rowsDone: status.rowsDone,
    rowsFailed: status.rowsFailed,
    rowsTotal: status.rowsTotal,
    partitionsDone: status.partitionsDone,
    partitionsTotal: status.partitionsTotal,
    elapsedMs: status.elapsedMs,
  };
}

/** Partitions a resumed plan already has part files for, with their refused-row counts. */
async function donePartitions(engine: BatchEngine, plan: BatchPlan): Promise<Map<number, number>> {
  const done = new Map<number, number>();
  if (!plan.resumed) return done;
  for (const partition of plan.partitions) {
    if (!engine.isDone(plan, partition)) continue;
    const bytes = await readFile(errorPartPath(plan.partsDir, partition));
    let lines = 0;
    for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) lines++;
    done.set(partition.index, lines);
  }
  return done;
}

function positive(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw mpError('MP_ERR_JOB_INVALID', `${what} must be a positive whole number of seconds, got ${value}`);
  return value;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
