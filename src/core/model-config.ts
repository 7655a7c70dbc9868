/**
 * Model configuration in Triton's JSON form (snake_case, enums as names, int64 as numbers), so a
 * config.json written for Triton works here and `/config` answers the way tritonclient and
 * perf_analyzer read it. Parsing and normalisation live in repository/; this is only the shape.
 */

export interface TensorConfig {
  name: string;
  /** Triton config datatype name, e.g. "TYPE_FP32", "TYPE_STRING". */
  data_type: string;
  /** Shape without the batch dimension when max_batch_size > 0; -1 = any size. */
  dims: number[];
  reshape?: { shape: number[] };
  optional?: boolean;
  label_filename?: string;
}

export interface VersionPolicy {
  latest?: { num_versions: number };
  all?: Record<string, never>;
  specific?: { versions: number[] };
}

export interface QueuePolicy {
  timeout_action?: 'REJECT' | 'DELAY';
  default_timeout_microseconds?: number;
  allow_timeout_override?: boolean;
  max_queue_size?: number;
}

export interface DynamicBatchingConfig {
  preferred_batch_size?: number[];
  max_queue_delay_microseconds?: number;
  preserve_ordering?: boolean;
  priority_levels?: number;
  default_priority_level?: number;
  default_queue_policy?: QueuePolicy;
}

export interface InstanceGroupConfig {
  name?: string;
  kind?: 'KIND_CPU' | 'KIND_AUTO' | 'KIND_GPU' | 'KIND_MODEL';
  count?: number;
}

export interface ModelParameterValue {
  string_value: string;
}

/** How one input of a warm-up request is filled: exactly one of the three. */
export interface ModelWarmupInput {
  /** Triton config datatype name, e.g. "TYPE_FP32". */
  data_type: string;
  /** Shape without the batch dimension; every dimension fixed. */
  dims: number[];
  zero_data?: boolean;
  random_data?: boolean;
  /** Raw row-major bytes in the model folder's warmup/ subfolder. */
  input_data_file?: string;
}

/** One warm-up request (Triton's ModelWarmup), run on every instance before a version is ready. */
export interface ModelWarmup {
  name: string;
  /** Rows per request for a batching model (the inputs repeated); 1 for a model that does not batch. */
  batch_size: number;
  inputs: Record<string, ModelWarmupInput>;
  /** Times the request runs on each instance; 0 means once. */
  count: number;
}

export interface ModelConfig {
  name: string;
  platform?: string;
  backend?: string;
  max_batch_size: number;
  input: TensorConfig[];
  output: TensorConfig[];
  version_policy?: VersionPolicy;
  dynamic_batching?: DynamicBatchingConfig;
  instance_group?: InstanceGroupConfig[];
  /** Triton form: { key: { string_value } }. Modelport reads e.g. "intra_op_thread_count". */
  parameters?: Record<string, ModelParameterValue>;
  default_model_filename?: string;
  model_warmup?: ModelWarmup[];
}
