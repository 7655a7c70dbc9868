/**
 * Batch (offline) inference: the engine that runs a file of rows through a model in resumable
 * partitions, the two ways it reaches a model (this process's data plane, or a server over HTTP),
 * and the file formats it reads and writes.
 */
export type { BatchInferencer, BatchJobSpec, BatchModel, BatchProgress, BatchSummary } from './batch-types.js';
export {
  BatchEngine,
  Slots,
  errorPartPath,
  partPath,
  type BatchPlan,
  type PartitionOptions,
  type PartitionResult,
  type PlanOptions,
  type ResolvedSpec,
  type RunOptions,
} from './batch-engine.js';
export { BATCH_PRIORITY, InProcessInferencer, type DescribedModel, type InProcessInferencerOptions } from './inprocess-inferencer.js';
export { RemoteInferencer, type RemoteInferencerOptions } from './remote-inferencer.js';
export { DATA_FORMATS, detectFormat, isDataFormat, type DataFormat } from './formats/index.js';
export { JobManager, type JobManagerOptions, type JobRecord, type JobRequest, type JobState, type JobSummary } from './job-manager.js';
export {
  BatchQueue,
  progressOf as distributedProgress,
  runWorker,
  submitDistributedJob,
  type BatchWorker,
  type BatchWorkerOptions,
  type DistributedJobState,
  type DistributedJobStatus,
  type SubmitOptions,
  type WorkerModel,
} from './queue/index.js';
