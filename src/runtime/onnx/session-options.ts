/**
 * Builds the onnxruntime session options of one instance from its thread budget and the model
 * configuration's `parameters` (Triton's onnxruntime backend keys, as strings). Parsed on the main
 * thread before a worker starts, so a bad value fails the load with a message naming the key
 * instead of surfacing as an engine error inside the worker.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { mpError } from '../../core/index.js';

export type SessionOptions = InferenceSession.SessionOptions;

/** Configuration parameters this runtime reads; any other key is left to other layers. */
export const SESSION_PARAMETERS = ['intra_op_thread_count', 'inter_op_thread_count', 'enable_mem_pattern', 'allow_spinning'] as const;

/**
 * Sequential execution with a one-thread inter-op pool: the parallel executor only helps branchy
 * graphs, and each instance must stay within the intra-op budget it was given so that
 * instances × threads does not oversubscribe the cores. An explicit thread count also stops
 * onnxruntime pinning a pool to every core per session.
 */
export function buildSessionOptions(intraOpThreads: number, parameters: Readonly<Record<string, string>> = {}): SessionOptions {
  const options: SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threadCount('instance option intraOpThreads', String(intraOpThreads)),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Fatal only: a failing run reaches its caller as an error (answered to the client, logged by
    // the server as JSON); onnxruntime's own copy, written straight to stderr, would only break a
    // JSON log stream with coloured text lines.
    logSeverityLevel: 4,
    // Idle intra-op threads do not spin by default: the HTTP thread, the other instances and
    // other models share the cores, and a spinning pool takes them away between batches.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const intra = parameters['intra_op_thread_count'];
  if (intra !== undefined) options.intraOpNumThreads = threadCount("parameter 'intra_op_thread_count'", intra);
  const inter = parameters['inter_op_thread_count'];
  if (inter !== undefined) options.interOpNumThreads = threadCount("parameter 'inter_op_thread_count'", inter);
  const memPattern = parameters['enable_mem_pattern'];
  if (memPattern !== undefined) options.enableMemPattern = flag('enable_mem_pattern', memPattern);
  const spinning = parameters['allow_spinning'];
  if (spinning !== undefined) {
    // The Node binding flattens nested `extra` keys with dots into session config entries
    // ("session.intra_op.allow_spinning") and accepts only string values.
    options.extra = { session: { intra_op: { allow_spinning: flag('allow_spinning', spinning) ? '1' : '0' } } };
  }
  return options;
}

/** 0 means "onnxruntime's default" (one thread per physical core), as in Triton. */
function threadCount(what: string, value: string): number {
  const text = value.trim();
  const count = Number(text);
  if (text === '' || !Number.isInteger(count) || count < 0) {
    throw mpError('MP_ERR_MODEL_CONFIG', `${what} must be a whole number of threads (0 = onnxruntime default), got '${value}'`);
  }
  return count;
}

function flag(key: string, value: string): boolean {
  switch (value.trim().toLowerCase()) {
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
    default:
      throw mpError('MP_ERR_MODEL_CONFIG', `parameter '${key}' must be 'true'/'false' or '1'/'0', got '${value}'`);
  }
}
