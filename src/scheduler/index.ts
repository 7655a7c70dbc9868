/** Queues and the dynamic batcher in front of runtime instances, one per model version. */
export type { Scheduler, ScheduledRequest, ScheduledResult, SchedulerStats } from './scheduler.js';
export type { BatcherOptions, Clock, ExecutionRecord } from './batcher-options.js';
export { DynamicBatcher } from './dynamic-batcher.js';
