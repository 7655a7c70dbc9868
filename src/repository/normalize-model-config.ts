/**
 * Normalisation of a model configuration, after Triton's NormalizeModelConfig, so that `/config`
 * answers with every field a client may read and the repository builds schedulers and instances
 * from one complete description. It is idempotent: applied to the configuration as written (to
 * know the version policy, model file name and instances before the model file is read) and again
 * once the model file has completed it (to settle batching, which depends on max_batch_size).
 *
 * Choices where Modelport differs from Triton, and why:
 * - dynamic_batching without preferred_batch_size gets [] where Triton puts [max_batch_size]. The
 *   dynamic batcher always dispatches a full batch at once and, with a max_queue_delay, holds a
 *   smaller one until the delay expires, so [] behaves exactly like [max_batch_size] there, while
 *   without a delay [] keeps dispatch work-conserving and the file says what actually happens.
 * - instance_group defaults to one KIND_CPU instance, where Triton's ONNX Runtime backend starts
 *   two. Each instance is a worker thread with its own intra-op thread pool, and the repository
 *   divides the cores among a version's instances; a second default instance would halve every
 *   instance's threads for a gain only models far too small to use the cores ever see. Raise
 *   `count` for those.
 */
import { mpError, silentLogger, type DynamicBatchingConfig, type InstanceGroupConfig, type ModelConfig } from '../core/index.js';
import { ConfigFieldReader } from './config-field-reader.js';
import { checkPreferredSizes, type PartialModelConfig } from './model-config-parser.js';

export interface NormalizeOptions {
  /** The model folder's name. */
  model: string;
  backend: string;
  platform: string;
  defaultModelFilename: string;
}

/**
 * Returns a new configuration with Triton's defaults filled in and fields in Triton's order.
 * Fails with MP_ERR_MODEL_CONFIG when preferred batch sizes exceed max_batch_size or instance
 * group names repeat, which only show once defaults are applied.
 */
export function normalizeModelConfig<T extends PartialModelConfig>(config: T, options: NormalizeOptions): PartialModelConfig & T & { name: string } {
  const { model } = options;
  const normalized: PartialModelConfig & { name: string } = {
    name: model,
    platform: options.platform,
    backend: options.backend,
    version_policy: config.version_policy ?? { latest: { num_versions: 1 } },
  };
  if (config.max_batch_size !== undefined) normalized.max_batch_size = config.max_batch_size;
  if (config.input !== undefined) normalized.input = config.input;
  if (config.output !== undefined) normalized.output = config.output;

  const maxBatchSize = config.max_batch_size;
  let batching = config.dynamic_batching;
  // Triton turns the dynamic batcher on for a model that can take more than one item per batch.
  if (batching === undefined && maxBatchSize !== undefined && maxBatchSize > 1) batching = {};
  if (batching !== undefined) {
    const filled = fillDynamicBatching(batching);
    if (maxBatchSize !== undefined) {
      checkPreferredSizes(new ConfigFieldReader(model, 'configuration', silentLogger), filled.preferred_batch_size ?? [], maxBatchSize);
    }
    normalized.dynamic_batching = filled;
  }
  normalized.instance_group = normalizeInstanceGroups(config.instance_group, model);
  normalized.default_model_filename = config.default_model_filename ?? options.defaultModelFilename;
  normalized.parameters = config.parameters ?? {};
  if (config.model_warmup !== undefined) normalized.model_warmup = config.model_warmup;
  return normalized as PartialModelConfig & T & { name: string };
}

function fillDynamicBatching(batching: DynamicBatchingConfig): DynamicBatchingConfig {
  const policy = batching.default_queue_policy ?? {};
  return {
    preferred_batch_size: batching.preferred_batch_size ?? [],
    max_queue_delay_microseconds: batching.max_queue_delay_microseconds ?? 0,
    preserve_ordering: batching.preserve_ordering ?? false,
    priority_levels: batching.priority_levels ?? 0,
    default_priority_level: batching.default_priority_level ?? 0,
    default_queue_policy: {
      timeout_action: policy.timeout_action ?? 'REJECT',
      default_timeout_microseconds: policy.default_timeout_microseconds ?? 0,
      allow_timeout_override: policy.allow_timeout_override ?? false,
      max_queue_size: policy.max_queue_size ?? 0,
    },
  };
}

/** One CPU instance by default; unnamed groups are `<model>_<index>`; KIND_AUTO is CPU here. */
function normalizeInstanceGroups(groups: InstanceGroupConfig[] | undefined, model: string): InstanceGroupConfig[] {
  if (groups === undefined || groups.length === 0) return [{ name: model, kind: 'KIND_CPU', count: 1 }];
  const seen = new Set<string>();
  return groups.map((group, index) => {
    const name = group.name ?? `${model}_${index}`;
    if (seen.has(name)) {
      throw mpError('MP_ERR_MODEL_CONFIG', `model '${model}': configuration: instance_group name '${name}' is used twice; names must be unique`);
    }
    seen.add(name);
    return { name, kind: 'KIND_CPU', count: group.count ?? 1 };
  });
}

/** Number of instances a version runs: the sum of its instance groups' counts. */
export function instanceCount(config: PartialModelConfig): number {
  let count = 0;
  for (const group of config.instance_group ?? []) count += group.count ?? 1;
  return Math.max(1, count);
}

/**
 * The configuration shown for a version whose model file could not complete it (the load failed
 * before or while reading the file): what is unknown reads as Triton's protobuf defaults.
 */
export function toModelConfig(config: PartialModelConfig & { name: string }): ModelConfig {
  const tensor = (t: { name: string; data_type?: string; dims?: number[] }) => ({ ...t, data_type: t.data_type ?? 'TYPE_INVALID', dims: t.dims ?? [] });
  return {
    ...config,
    max_batch_size: config.max_batch_size ?? 0,
    input: (config.input ?? []).map(tensor),
    output: (config.output ?? []).map(tensor),
  };
}
