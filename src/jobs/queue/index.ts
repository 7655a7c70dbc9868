/**
 * Distributed batch jobs on Postgres: the submitting side (BatchQueue: plan, record, queue one
 * pg-boss message per partition, status, wait, cancel) and the workers (runWorker) that share a
 * job's partitions and merge its output. The one home of pg-boss, which is loaded only when a
 * queue is actually opened.
 */
export { BatchQueue, progressOf, submitDistributedJob, type BatchQueueOptions, type SubmitOptions, type WaitOptions } from './batch-queue.js';
export { runWorker, type BatchWorker, type BatchWorkerOptions, type WorkerModel } from './batch-worker.js';
export { mergeParts } from './merge-parts.js';
export type { DistributedJobState, DistributedJobStatus } from './batch-store.js';
