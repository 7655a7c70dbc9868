/**
 * Distributed batch jobs in Postgres: pg-boss carries one message per partition (and one per
 * merge) to the workers, and two tables of our own say what each job and each partition is and
 * where it stands, so that any process (the submitter, a worker, a status query) reads one
 * consistent picture whichever worker did what.
 *
 * - modelport_batch_jobs: one row per job with its plan (the engine's BatchPlan as JSON: spec with
 *   absolute paths, model with its digest, partitions, parts folder) and its state, running →
 *   merging → succeeded, or failed / cancelled.
 * - modelport_batch_partitions: one row per partition: pending → running (by a worker, with rows
 *   done so far) → done (rows written and refused).
 *
 * Every transition is one conditional UPDATE, so races between workers resolve in the database:
 * a partition is marked done once, and of the workers that finish the last partitions, exactly
 * one moves the job to `merging`. pg-boss is only imported lazily (openBoss), so loading this
 * module costs nothing to commands that never use a queue. The SQL goes through pg-boss's own
 * pool (getDb().executeSql), so no second connection pool is opened.
 */
import type PgBoss from 'pg-boss';
import { mpError, type Logger } from '../../core/index.js';
import type { BatchPlan } from '../batch-engine.js';
import type { BatchSummary } from '../batch-types.js';

/** One message per partition: {job, partition}. */
export const PARTITION_QUEUE = 'modelport-batch-partition';
/** One message per job whose partitions are all done: {job}. */
export const MERGE_QUEUE = 'modelport-batch-merge';
/** Messages that failed on every try land here; the job is then marked failed. */
export const DEAD_QUEUE = 'modelport-batch-dead';

export type DistributedJobState = 'running' | 'merging' | 'succeeded' | 'failed' | 'cancelled';

export interface PartitionMessage {
  job: string;
  partition: number;
}

export interface MergeMessage {
  job: string;
}

/** Where a distributed job stands, aggregated over every worker. */
export interface DistributedJobStatus {
  id: string;
  state: DistributedJobState;
  model: string;
  version: string;
  output: string;
  errors: string;
  rowsTotal: number;
  /** Rows written or refused so far, partitions in progress included. */
  rowsDone: number;
  rowsFailed: number;
  partitionsTotal: number;
  partitionsDone: number;
  partitionsRunning: number;
  /** Workers running a partition of the job now. */
  workers: string[];
  /** Partition tries beyond the first (redeliveries after a worker died or failed). */
  retries: number;
  error?: string;
  createdAt: string;
  endedAt?: string;
  elapsedMs: number;
}

export interface JobRow {
  id: string;
  state: DistributedJobState;
  plan: BatchPlan;
  timeoutSecs: number;
  retryLimit: number;
}

/** Settings of pg-boss shared by the submitter and the workers. */
export interface BossOptions {
  url: string;
  logger: Logger;
  /**
   * Only workers supervise: pg-boss's maintenance is what notices a partition whose worker died
   * (its message expired) and hands it out again. Seconds between two such checks (default 5).
   */
  supervise?: boolean;
  maintenanceIntervalSeconds?: number;
  /** Connections in pg-boss's pool (default 4). */
  poolSize?: number;
}

/**
 * "mpbt": serialises the preparation (our tables and pg-boss's queues) between processes. Workers
 * started together on a fresh database otherwise deadlock: pg-boss's create_queue inserts the
 * queue row and then attaches a partition to its job table, and two of them interleaving take
 * those locks in opposite orders.
 */
const ADVISORY_LOCK_KEY = 0x6d70_6274;

const CREATE_TABLES = `
  CREATE TABLE IF NOT EXISTS modelport_batch_jobs (
    id text PRIMARY KEY,
    state text NOT NULL,
    model text NOT NULL,
    output text NOT NULL,
    plan jsonb NOT NULL,
    rows_total bigint NOT NULL,
    partitions_total integer NOT NULL,
    timeout_secs integer NOT NULL,
    retry_limit integer NOT NULL,
    error text,
    summary jsonb,
    merged_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
  );
  CREATE INDEX IF NOT EXISTS modelport_batch_jobs_output ON modelport_batch_jobs (output) WHERE state IN ('running', 'merging');
  CREATE TABLE IF NOT EXISTS modelport_batch_partitions (
    job_id text NOT NULL REFERENCES modelport_batch_jobs (id) ON DELETE CASCADE,
    partition_index integer NOT NULL,
    row_count integer NOT NULL,
    state text NOT NULL DEFAULT 'pending',
    rows_done integer NOT NULL DEFAULT 0,
    rows_failed integer NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0,
    worker text,
    error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, partition_index)
  );
`;

/** Starts pg-boss on the database (installing its schema on first use) and makes sure our tables and queues exist. */
export async function openBoss(options: BossOptions): Promise<PgBoss> {
  const { default: PgBossClass } = await import('pg-boss');
  const boss = new PgBossClass({
    connectionString: options.url,
    application_name: 'modelport-batch',
    max: options.poolSize ?? 4,
    supervise: options.supervise ?? false,
    maintenanceIntervalSeconds: options.maintenanceIntervalSeconds ?? 5,
    // Cron schedules are not used; their timekeeper would only poll.
    schedule: false,
  });
  // pg-boss reports connection trouble as events; without a listener they would crash the process.
  boss.on('error', (error: Error) => options.logger.warn({ error: error.message }, 'job queue error'));
  try {
    await boss.start();
  } catch (error) {
    throw mpError('MP_ERR_REGISTRY_UNAVAILABLE', `cannot open the job queue at ${redactUrl(options.url)}: ${(error as Error).message}`, error);
  }
  try {
    await prepareQueues(boss, options.url);
  } catch (error) {
    await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
    throw mpError('MP_ERR_REGISTRY_UNAVAILABLE', `cannot prepare the job queue tables: ${(error as Error).message}`, error);
  }
  return boss;
}

/**
 * Creates our tables and the three queues while holding the advisory lock on a connection of its
 * own: a session lock, because the queues are created through pg-boss's pool, on other connections.
 */
async function prepareQueues(boss: PgBoss, url: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, application_name: 'modelport-batch' });
  // A connection lost meanwhile also fails the query in progress, which reports it; unheard, the
  // client's 'error' event would end the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    await client.query(CREATE_TABLES);
    await boss.createQueue(DEAD_QUEUE, { name: DEAD_QUEUE, policy: 'standard' });
    // stately: at most one waiting and one running message per key, so submitting a partition
    // that is already queued adds nothing.
    await boss.createQueue(PARTITION_QUEUE, { name: PARTITION_QUEUE, policy: 'stately', deadLetter: DEAD_QUEUE });
    await boss.createQueue(MERGE_QUEUE, { name: MERGE_QUEUE, policy: 'stately', deadLetter: DEAD_QUEUE });
  } finally {
    // Ending the session releases the lock.
    await client.end().catch(() => undefined);
  }
}

/** The SQL of the two tables, through pg-boss's pool. */
export class BatchStore {
  readonly #db: PgBoss.Db;

  constructor(db: PgBoss.Db) {
    this.#db = db;
  }

  async #rows<T>(text: string, values: unknown[]): Promise<T[]> {
    // executeSql answers nothing once pg-boss has closed its pool.
    const result = await this.#db.executeSql(text, values);
    if (result === undefined) throw mpError('MP_ERR_REGISTRY_UNAVAILABLE', 'the job queue connection is closed');
    return result.rows as T[];
  }

  /** Id of the job still writing `output`, if any (two jobs must not share a parts folder). */
  async activeJobFor(output: string): Promise<string | undefined> {
    const rows = await this.#rows<{ id: string }>(`SELECT id FROM modelport_batch_jobs WHERE output = $1 AND state IN ('running', 'merging') LIMIT 1`, [output]);
    return rows[0]?.id;
  }

  /** Inserts the job and its partitions in one statement; `done` maps partitions found done (a resume) to their refused rows. */
  async insertJob(id: string, plan: BatchPlan, options: { timeoutSecs: number; retryLimit: number; done: Map<number, number> }): Promise<void> {
    const partitions = plan.partitions.map((p) => {
      const rows = p.endRow - p.startRow;
      const failed = options.done.get(p.index);
      return failed === undefined
        ? { partition_index: p.index, row_count: rows, state: 'pending', rows_done: 0, rows_failed: 0 }
        : { partition_index: p.index, row_count: rows, state: 'done', rows_done: rows, rows_failed: failed };
    });
    await this.#rows(
      `WITH job AS (
         INSERT INTO modelport_batch_jobs (id, state, model, output, plan, rows_total, partitions_total, timeout_secs, retry_limit)
         VALUES ($1, 'running', $2, $3, $4::jsonb, $5, $6, $7, $8)
         RETURNING id
       )
       INSERT INTO modelport_batch_partitions (job_id, partition_index, row_count, state, rows_done, rows_failed)
       SELECT job.id, p.partition_index, p.row_count, p.state, p.rows_done, p.rows_failed
       FROM job, jsonb_to_recordset($9::jsonb) AS p (partition_index integer, row_count integer, state text, rows_done integer, rows_failed integer)`,
      [id, plan.spec.model, plan.spec.output, JSON.stringify(plan), plan.rows, plan.partitions.length, options.timeoutSecs, options.retryLimit, JSON.stringify(partitions)],
    );
  }

  async job(id: string): Promise<JobRow | undefined> {
    const rows = await this.#rows<{ id: string; state: DistributedJobState; plan: BatchPlan; timeout_secs: number; retry_limit: number }>(
      `SELECT id, state, plan, timeout_secs, retry_limit FROM modelport_batch_jobs WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    return row && { id: row.id, state: row.state, plan: row.plan, timeoutSecs: row.timeout_secs, retryLimit: row.retry_limit };
  }

  async jobState(id: string): Promise<DistributedJobState | undefined> {
    const rows = await this.#rows<{ state: DistributedJobState }>(`SELECT state FROM modelport_batch_jobs WHERE id = $1`, [id]);
    return rows[0]?.state;
  }

  /** Takes a partition for `worker`; false when it is already done (a redelivered message). */
  async startPartition(job: string, partition: number, worker: string): Promise<boolean> {
    const rows = await this.#rows(
      `UPDATE modelport_batch_partitions
       SET state = 'running', worker = $3, attempts = attempts + 1, rows_done = 0, rows_failed = 0, error = NULL, updated_at = now()
       WHERE job_id = $1 AND partition_index = $2 AND state <> 'done'
       RETURNING attempts`,
      [job, partition, worker],
    );
    return rows.length > 0;
  }

  /** Records rows done so far by `worker`; answers the job's state, so a cancelled job stops its workers. */
  async progress(job: string, partition: number, worker: string, rowsDone: number, rowsFailed: number): Promise<DistributedJobState | undefined> {
    const rows = await this.#rows<{ state: DistributedJobState }>(
      `WITH p AS (
         UPDATE modelport_batch_partitions SET rows_done = $4, rows_failed = $5, updated_at = now()
         WHERE job_id = $1 AND partition_index = $2 AND worker = $3 AND state = 'running'
       )
       SELECT state FROM modelport_batch_jobs WHERE id = $1`,
      [job, partition, worker, rowsDone, rowsFailed],
    );
    return rows[0]?.state;
  }

  /** Marks the partition done (once, whoever finishes it first). */
  async finishPartition(job: string, partition: number, worker: string, rowsDone: number, rowsFailed: number): Promise<boolean> {
    const rows = await this.#rows(
      `UPDATE modelport_batch_partitions
       SET state = 'done', worker = $3, rows_done = $4, rows_failed = $5, error = NULL, updated_at = now()
       WHERE job_id = $1 AND partition_index = $2 AND state <> 'done'
       RETURNING partition_index`,
      [job, partition, worker, rowsDone, rowsFailed],
    );
    return rows.length > 0;
  }

  /** Gives a partition back after a failed try, with the reason, for the next try (or the dead-letter report). */
  async releasePartition(job: string, partition: number, worker: string, error: string): Promise<void> {
    await this.#rows(
      `UPDATE modelport_batch_partitions SET state = 'pending', error = $4, updated_at = now()
       WHERE job_id = $1 AND partition_index = $2 AND worker = $3 AND state = 'running'`,
      [job, partition, worker, error],
    );
  }

  async partitionError(job: string, partition: number): Promise<string | undefined> {
    const rows = await this.#rows<{ error: string | null; attempts: number }>(
      `SELECT error, attempts FROM modelport_batch_partitions WHERE job_id = $1 AND partition_index = $2`,
      [job, partition],
    );
    return rows[0]?.error ?? undefined;
  }

  /**
   * running → merging once no partition is left undone. Of several workers finishing the last
   * partitions at the same time, the row lock lets one through; the others then see `merging`.
   */
  async claimMerge(job: string): Promise<boolean> {
    const rows = await this.#rows(
      `UPDATE modelport_batch_jobs SET state = 'merging', updated_at = now()
       WHERE id = $1 AND state = 'running'
         AND NOT EXISTS (SELECT 1 FROM modelport_batch_partitions WHERE job_id = $1 AND state <> 'done')
       RETURNING id`,
      [job],
    );
    return rows.length > 0;
  }

  async finishJob(job: string, worker: string, summary: BatchSummary): Promise<boolean> {
    const rows = await this.#rows(
      `UPDATE modelport_batch_jobs SET state = 'succeeded', summary = $3::jsonb, merged_by = $2, ended_at = now(), updated_at = now()
       WHERE id = $1 AND state = 'merging' RETURNING id`,
      [job, worker, JSON.stringify(summary)],
    );
    return rows.length > 0;
  }

  async failJob(job: string, error: string): Promise<boolean> {
    const rows = await this.#rows(
      `UPDATE modelport_batch_jobs SET state = 'failed', error = $2, ended_at = now(), updated_at = now()
       WHERE id = $1 AND state IN ('running', 'merging') RETURNING id`,
      [job, error],
    );
    return rows.length > 0;
  }

  /** running → cancelled; false when the job is past that (merging or ended). */
  async cancelJob(job: string): Promise<boolean> {
    const rows = await this.#rows(
      `UPDATE modelport_batch_jobs SET state = 'cancelled', error = 'cancelled', ended_at = now(), updated_at = now()
       WHERE id = $1 AND state = 'running' RETURNING id`,
      [job],
    );
    return rows.length > 0;
  }

  async status(job: string): Promise<DistributedJobStatus | undefined> {
    const rows = await this.#rows<{
      id: string;
      state: DistributedJobState;
      model: string;
      version: string;
      output: string;
      errors: string;
      rows_total: number;
      partitions_total: number;
      error: string | null;
      created_at: Date;
      ended_at: Date | null;
      elapsed_ms: number;
      rows_done: number;
      rows_failed: number;
      partitions_done: number;
      partitions_running: number;
      retries: number;
      workers: string[] | null;
    }>(
      `SELECT j.id, j.state, j.model, j.plan->'model'->>'version' AS version, j.output, j.plan->'spec'->>'errors' AS errors,
              j.rows_total::float8 AS rows_total, j.partitions_total, j.error, j.created_at, j.ended_at,
              (EXTRACT(EPOCH FROM (COALESCE(j.ended_at, now()) - j.created_at)) * 1000)::float8 AS elapsed_ms,
              COALESCE(SUM(p.rows_done), 0)::float8 AS rows_done,
              COALESCE(SUM(p.rows_failed), 0)::float8 AS rows_failed,
              COUNT(*) FILTER (WHERE p.state = 'done')::int AS partitions_done,
              COUNT(*) FILTER (WHERE p.state = 'running')::int AS partitions_running,
              COALESCE(SUM(GREATEST(p.attempts - 1, 0)), 0)::int AS retries,
              ARRAY_AGG(DISTINCT p.worker) FILTER (WHERE p.state = 'running') AS workers
       FROM modelport_batch_jobs j LEFT JOIN modelport_batch_partitions p ON p.job_id = j.id
       WHERE j.id = $1
       GROUP BY j.id`,
      [job],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const status: DistributedJobStatus = {
      id: row.id,
      state: row.state,
      model: row.model,
      version: row.version,
      output: row.output,
      errors: row.errors,
      rowsTotal: row.rows_total,
      rowsDone: row.rows_done,
      rowsFailed: row.rows_failed,
      partitionsTotal: row.partitions_total,
      partitionsDone: row.partitions_done,
      partitionsRunning: row.partitions_running,
      workers: row.workers ?? [],
      retries: row.retries,
      createdAt: row.created_at.toISOString(),
      elapsedMs: row.elapsed_ms,
    };
    if (row.error !== null) status.error = row.error;
    if (row.ended_at !== null) status.endedAt = row.ended_at.toISOString();
    return status;
  }
}

/** A Postgres URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
