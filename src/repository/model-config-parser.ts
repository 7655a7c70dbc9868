/**
 * Reads a model's configuration in Triton's JSON form (snake_case keys, enums as names) from
 * `<model>/config.json`, `config.yaml` or `config.yml`, or from the text a load request carries,
 * and checks every field's type and range. The result may still lack what the model file can
 * supply (max_batch_size, inputs, outputs, tensor types and dims); auto-completion and the checks
 * against the model file happen later, per version, in complete-model-config.ts.
 */
import { readFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { parse as parseLossless } from 'lossless-json';
import { parseDocument } from 'yaml';
import {
  datatypeFromConfig,
  mpError,
  type DynamicBatchingConfig,
  type InstanceGroupConfig,
  type Logger,
  type ModelConfig,
  type ModelParameterValue,
  type QueuePolicy,
  type VersionPolicy,
} from '../core/index.js';
import { ConfigFieldReader, join, showValue, type ConfigObject } from './config-field-reader.js';
import { parseModelWarmup } from './warmup-config.js';

/** A tensor as configured; the model file fills what is missing. */
export interface PartialTensorConfig {
  name: string;
  data_type?: string;
  dims?: number[];
  optional?: boolean;
  label_filename?: string;
}

/** A configuration as written: what the model file can supply may be absent. */
export interface PartialModelConfig extends Omit<ModelConfig, 'name' | 'max_batch_size' | 'input' | 'output'> {
  name?: string;
  max_batch_size?: number;
  input?: PartialTensorConfig[];
  output?: PartialTensorConfig[];
}

export type ConfigFormat = 'json' | 'yaml';

export interface ConfigParseOptions {
  /** The model folder's name; a `name` in the document must equal it. */
  model: string;
  /** What the document is called in messages, e.g. "config.json". */
  source: string;
  format: ConfigFormat;
  /** The only backend and platform names accepted: the runtime's. */
  backend: string;
  platform: string;
  logger: Logger;
}

/** The configuration found in a model folder; `text` is empty and `file` absent when there is none. */
export interface ModelConfigFile {
  config: PartialModelConfig;
  text: string;
  file?: string;
}

/** Configuration files a model folder may hold, in the order they are looked for. */
export const CONFIG_FILES: readonly { file: string; format: ConfigFormat }[] = [
  { file: 'config.json', format: 'json' },
  { file: 'config.yaml', format: 'yaml' },
  { file: 'config.yml', format: 'yaml' },
];

/** Top-level fields read and acted on. */
const MODEL_FIELDS = [
  'name',
  'platform',
  'backend',
  'max_batch_size',
  'input',
  'output',
  'version_policy',
  'dynamic_batching',
  'instance_group',
  'parameters',
  'default_model_filename',
  'model_warmup',
];

/** Triton fields accepted but not acted on (a warning when set to something other than the default). */
const IGNORED_MODEL_FIELDS: Record<string, string> = {
  runtime: 'Modelport runs every model with its ONNX Runtime backend',
  optimization: 'GPU and pinned-memory optimisation settings do not apply to CPU inference',
  cc_model_filenames: 'there are no GPU-specific model files',
  metric_tags: 'metric tags are not implemented',
  model_operations: 'model operations are not implemented',
  model_repository_agents: 'repository agents are not implemented',
  model_metrics: 'per-model metric settings are not implemented',
  response_cache: 'the response cache is not implemented',
};

/** Triton fields whose non-default value asks for behaviour Modelport does not have. */
const UNSUPPORTED_MODEL_FIELDS: Record<string, string> = {
  sequence_batching: 'stateful sequence batching is not implemented; remove it (a stateless model needs dynamic_batching or nothing)',
  ensemble_scheduling: 'ensembles are not implemented; serve each model on its own',
  batch_input: 'batch inputs are not implemented',
  batch_output: 'batch outputs are not implemented',
};

const TENSOR_FIELDS = ['name', 'data_type', 'dims', 'reshape', 'optional', 'label_filename', 'format', 'is_shape_tensor', 'allow_ragged_batch', 'is_non_linear_format_io'];
const FORMATS = ['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'];
const DYNAMIC_BATCHING_FIELDS = [
  'preferred_batch_size',
  'max_queue_delay_microseconds',
  'preserve_ordering',
  'priority_levels',
  'default_priority_level',
  'default_queue_policy',
  'priority_queue_policy',
];
const QUEUE_POLICY_FIELDS = ['timeout_action', 'default_timeout_microseconds', 'allow_timeout_override', 'max_queue_size'];
const INSTANCE_GROUP_FIELDS = ['name', 'kind', 'count', 'gpus', 'rate_limiter', 'secondary_devices', 'profile', 'passive', 'host_policy'];
/** Parameters whose values Modelport reads itself; checked here so a bad value names the file. */
const THREAD_PARAMETERS = ['intra_op_thread_count', 'inter_op_thread_count'];
/** Bounds on what one configuration (a file, or the load request's config) may ask the process for. */
const MAX_INSTANCES = 64;
const MAX_THREADS = 256;

/**
 * Parses JSON or YAML text into a plain value. A syntax error becomes MP_ERR_MODEL_CONFIG with the
 * parser's own message and the line and column where it stopped.
 */
export function parseConfigText(text: string, format: ConfigFormat, model: string, source: string): unknown {
  if (format === 'yaml') {
    const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    const first = document.errors[0];
    if (first) throw mpError('MP_ERR_MODEL_CONFIG', `model '${model}': ${source} is not valid YAML: ${first.message}`, first);
    // An empty YAML file is an empty configuration: everything is completed from the model file.
    return document.toJS({ maxAliasCount: 100 }) ?? {};
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw mpError('MP_ERR_MODEL_CONFIG', `model '${model}': ${source} is not valid JSON: ${jsonErrorWithPosition(text, error)}`, error);
  }
}

/**
 * V8's JSON.parse often names no position ("Unexpected token '}', ... is not valid JSON"); the
 * lossless-json parser, run only on failure, says where it stopped, which becomes a line and column.
 */
function jsonErrorWithPosition(text: string, nativeError: unknown): string {
  try {
    parseLossless(text);
  } catch (error) {
    const message = (error as Error).message;
    const match = /at position (\d+)/.exec(message);
    if (match) {
      const { line, column } = lineAndColumn(text, Number(match[1]));
      return `${message.slice(0, match.index).trimEnd()} at line ${line}, column ${column}`;
    }
    return message;
  }
  return (nativeError as Error).message;
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: position - lineStart + 1 };
}

/** Parses and checks one configuration document. */
export function parseModelConfig(text: string, options: ConfigParseOptions): PartialModelConfig {
  const value = parseConfigText(text, options.format, options.model, options.source);
  return validateModelConfig(value, options);
}

/**
 * Reads the configuration file of a model folder, if any. More than one of config.json,
 * config.yaml and config.yml is an error rather than a silent pick; a config.pbtxt alone is an
 * error too, because serving the model with an auto-completed configuration instead of the one
 * written for it would quietly change its batching and shapes.
 */
export async function readModelConfig(
  modelDir: string,
  options: Omit<ConfigParseOptions, 'source' | 'format'>,
): Promise<ModelConfigFile> {
  const found: { file: string; format: ConfigFormat; text: string }[] = [];
  for (const candidate of CONFIG_FILES) {
    const text = await readOptional(joinPath(modelDir, candidate.file), options.model);
    if (text !== undefined) found.push({ ...candidate, text });
  }
  if (found.length > 1) {
    throw mpError(
      'MP_ERR_MODEL_CONFIG',
      `model '${options.model}' has ${found.map((f) => f.file).join(' and ')}; keep exactly one configuration file`,
    );
  }
  const chosen = found[0];
  if (!chosen) {
    if ((await readOptional(joinPath(modelDir, 'config.pbtxt'), options.model)) !== undefined) {
      throw mpError(
        'MP_ERR_MODEL_CONFIG',
        `model '${options.model}' has a config.pbtxt (protobuf text), which Modelport does not read; ` +
          'write the same configuration as config.json or config.yaml (Triton JSON field names), or remove it to auto-complete from the model file',
      );
    }
    return { config: {}, text: '' };
  }
  const config = parseModelConfig(chosen.text, { ...options, source: chosen.file, format: chosen.format });
  return { config, text: chosen.text, file: chosen.file };
}

async function readOptional(path: string, model: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw mpError('MP_ERR_MODEL_CONFIG', `model '${model}': cannot read ${path}: ${(error as Error).message}`, error);
  }
}

/** Checks a parsed document field by field and returns only the fields Modelport acts on. */
export function validateModelConfig(value: unknown, options: Omit<ConfigParseOptions, 'format'>): PartialModelConfig {
  const reader = new ConfigFieldReader(options.model, options.source, options.logger);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw reader.error(`the configuration must be an object of Triton model configuration fields, got ${showValue(value)}`);
  }
  const raw = value as ConfigObject;
  const config: PartialModelConfig = {};

  reader.unknownKeys(raw, '', [...MODEL_FIELDS, ...Object.keys(IGNORED_MODEL_FIELDS), ...Object.keys(UNSUPPORTED_MODEL_FIELDS), 'model_transaction_policy']);
  for (const [key, why] of Object.entries(UNSUPPORTED_MODEL_FIELDS)) {
    // Present at all (even empty) selects that scheduler in Triton, so presence is what counts.
    if (raw[key] !== undefined && !(Array.isArray(raw[key]) && (raw[key] as unknown[]).length === 0)) {
      throw reader.error(`'${key}' is not supported: ${why}`);
    }
  }
  for (const [key, why] of Object.entries(IGNORED_MODEL_FIELDS)) reader.ignored(raw, '', key, why);
  if (raw.model_transaction_policy !== undefined) {
    const policy = reader.object(raw.model_transaction_policy, 'model_transaction_policy');
    reader.unknownKeys(policy, 'model_transaction_policy', ['decoupled']);
    if (policy.decoupled !== undefined && reader.boolean(policy.decoupled, 'model_transaction_policy.decoupled')) {
      throw reader.error("'model_transaction_policy.decoupled' is not supported: every request gets exactly one response");
    }
  }

  if (raw.name !== undefined) {
    const name = reader.string(raw.name, 'name');
    if (name !== '' && name !== options.model) {
      throw reader.error(`'name' must be the model folder's name '${options.model}', got ${showValue(name)}; rename the folder or the model`);
    }
    config.name = options.model;
  }
  const platform = optionalName(reader, raw.platform, 'platform', options.platform, 'platform');
  if (platform !== undefined) config.platform = platform;
  const backend = optionalName(reader, raw.backend, 'backend', options.backend, 'backend');
  if (backend !== undefined) config.backend = backend;

  if (raw.max_batch_size !== undefined) config.max_batch_size = reader.integer(raw.max_batch_size, 'max_batch_size', 0);
  if (raw.input !== undefined) config.input = tensorList(reader, raw.input, 'input');
  if (raw.output !== undefined) config.output = tensorList(reader, raw.output, 'output');
  if (raw.version_policy !== undefined) config.version_policy = versionPolicy(reader, raw.version_policy);
  if (raw.dynamic_batching !== undefined) config.dynamic_batching = dynamicBatching(reader, raw.dynamic_batching, config.max_batch_size);
  if (raw.instance_group !== undefined) config.instance_group = instanceGroups(reader, raw.instance_group);
  if (raw.parameters !== undefined) config.parameters = parameters(reader, raw.parameters);
  if (raw.default_model_filename !== undefined) {
    const file = reader.string(raw.default_model_filename, 'default_model_filename');
    // The file name is joined to a version folder's path: anything but a plain name could leave it.
    if (file !== '' && (file === '.' || file === '..' || /[/\\\0]/.test(file))) {
      throw reader.invalid('default_model_filename', 'a file name inside the version folder (no path separators)', file);
    }
    if (file !== '') config.default_model_filename = file;
  }
  if (raw.model_warmup !== undefined) {
    const samples = parseModelWarmup(reader, raw.model_warmup);
    if (samples.length > 0) config.model_warmup = samples;
  }
  return config;
}

/** platform / backend: only the runtime's own name; "" means unset, as in Triton's /config output. */
function optionalName(reader: ConfigFieldReader, value: unknown, path: string, accepted: string, what: string): string | undefined {
  if (value === undefined) return undefined;
  const name = reader.string(value, path);
  if (name === '') return undefined;
  if (name !== accepted) throw reader.invalid(path, `'${accepted}', the only ${what} Modelport runs`, name);
  return name;
}

function tensorList(reader: ConfigFieldReader, value: unknown, path: string): PartialTensorConfig[] {
  const isInput = path === 'input';
  const seen = new Set<string>();
  return reader.list(value, path).map((item, i) => {
    const at = `${path}[${i}]`;
    const raw = reader.object(item, at);
    reader.unknownKeys(raw, at, TENSOR_FIELDS);
    if (raw.name === undefined) throw reader.invalid(`${at}.name`, `the ${isInput ? 'input' : 'output'}'s name as the model declares it`, undefined);
    const name = reader.string(raw.name, `${at}.name`);
    if (name === '') throw reader.invalid(`${at}.name`, 'a non-empty name', name);
    if (seen.has(name)) throw reader.error(`'${at}.name' repeats ${path} '${name}'; each ${path} must be listed once`);
    seen.add(name);
    const tensor: PartialTensorConfig = { name };
    if (raw.data_type !== undefined) {
      const type = reader.string(raw.data_type, `${at}.data_type`);
      if (datatypeFromConfig(type) === undefined) {
        throw reader.invalid(`${at}.data_type`, 'a Triton data type such as TYPE_FP32, TYPE_INT64, TYPE_BOOL or TYPE_STRING', type);
      }
      tensor.data_type = type;
    }
    if (raw.dims !== undefined) tensor.dims = dims(reader, raw.dims, `${at}.dims`);
    if (raw.reshape !== undefined) {
      const reshape = reader.object(raw.reshape, `${at}.reshape`);
      const shape = reshape.shape === undefined ? [] : reader.integerList(reshape.shape, `${at}.reshape.shape`, -1);
      // A reshape equal to dims changes nothing; any other would need tensors reshaped between
      // the request and the model, which the server does not do.
      if (tensor.dims === undefined || shape.length !== tensor.dims.length || shape.some((d, k) => d !== tensor.dims![k])) {
        throw reader.error(`'${at}.reshape' is not supported: give 'dims' as the model declares the tensor and remove 'reshape'`);
      }
    }
    if (raw.optional !== undefined) {
      const optional = reader.boolean(raw.optional, `${at}.optional`);
      if (optional && !isInput) throw reader.error(`'${at}.optional' applies to inputs only`);
      if (optional) tensor.optional = true;
    }
    if (raw.label_filename !== undefined) {
      const label = reader.string(raw.label_filename, `${at}.label_filename`);
      if (label !== '') tensor.label_filename = label;
    }
    if (raw.format !== undefined) {
      const format = reader.string(raw.format, `${at}.format`);
      if (!FORMATS.includes(format)) throw reader.invalid(`${at}.format`, `one of ${FORMATS.join(', ')}`, format);
    }
    reader.unsupported(raw, at, 'is_shape_tensor', 'shape tensors are not implemented');
    reader.unsupported(raw, at, 'allow_ragged_batch', 'ragged batching is not implemented; requests are batched only when their non-batch dimensions are equal');
    reader.ignored(raw, at, 'is_non_linear_format_io', 'it concerns GPU tensor layouts');
    return tensor;
  });
}

/** Dimensions: -1 (any size) or a positive size; [] is a scalar (per batch item when batching). */
function dims(reader: ConfigFieldReader, value: unknown, path: string): number[] {
  const expected = 'an integer >= 1, or -1 for a dimension of any size';
  return reader.list(value, path).map((item, k) => {
    const dim = reader.integer(item, `${path}[${k}]`, -1, expected);
    if (dim === 0) throw reader.invalid(`${path}[${k}]`, expected, item);
    return dim;
  });
}

function versionPolicy(reader: ConfigFieldReader, value: unknown): VersionPolicy {
  const path = 'version_policy';
  const raw = reader.object(value, path);
  const chosen = ['latest', 'all', 'specific'].filter((key) => raw[key] !== undefined);
  reader.unknownKeys(raw, path, ['latest', 'all', 'specific']);
  if (chosen.length !== 1) {
    throw reader.invalid(
      path,
      'exactly one of {"latest": {"num_versions": N}}, {"all": {}} or {"specific": {"versions": [...]}}',
      value,
    );
  }
  if (chosen[0] === 'latest') {
    const latest = reader.object(raw.latest, `${path}.latest`);
    reader.unknownKeys(latest, `${path}.latest`, ['num_versions']);
    return { latest: { num_versions: reader.integer(latest.num_versions, `${path}.latest.num_versions`, 1) } };
  }
  if (chosen[0] === 'all') {
    reader.unknownKeys(reader.object(raw.all, `${path}.all`), `${path}.all`, []);
    return { all: {} };
  }
  const specific = reader.object(raw.specific, `${path}.specific`);
  reader.unknownKeys(specific, `${path}.specific`, ['versions']);
  const versions = reader.integerList(specific.versions, `${path}.specific.versions`, 1, 'a version number >= 1');
  if (versions.length === 0) throw reader.invalid(`${path}.specific.versions`, 'a list of at least one version number', specific.versions);
  return { specific: { versions: [...new Set(versions)].sort((a, b) => a - b) } };
}

function dynamicBatching(reader: ConfigFieldReader, value: unknown, maxBatchSize: number | undefined): DynamicBatchingConfig {
  const path = 'dynamic_batching';
  const raw = reader.object(value, path);
  reader.unknownKeys(raw, path, DYNAMIC_BATCHING_FIELDS);
  const batching: DynamicBatchingConfig = {};
  if (raw.preferred_batch_size !== undefined) {
    const sizes = reader.integerList(raw.preferred_batch_size, `${path}.preferred_batch_size`, 1);
    // Checked again once max_batch_size is known when the model file supplies it.
    if (maxBatchSize !== undefined) checkPreferredSizes(reader, sizes, maxBatchSize);
    batching.preferred_batch_size = sizes;
  }
  if (raw.max_queue_delay_microseconds !== undefined) {
    batching.max_queue_delay_microseconds = reader.integer(raw.max_queue_delay_microseconds, `${path}.max_queue_delay_microseconds`, 0);
  }
  if (raw.preserve_ordering !== undefined) batching.preserve_ordering = reader.boolean(raw.preserve_ordering, `${path}.preserve_ordering`);
  if (raw.priority_levels !== undefined) batching.priority_levels = reader.integer(raw.priority_levels, `${path}.priority_levels`, 0);
  if (raw.default_priority_level !== undefined) {
    const level = reader.integer(raw.default_priority_level, `${path}.default_priority_level`, 0);
    const levels = batching.priority_levels ?? 0;
    if (levels === 0 && level !== 0) {
      throw reader.invalid(`${path}.default_priority_level`, "0 when 'priority_levels' is not set", raw.default_priority_level);
    }
    if (levels > 0 && (level < 1 || level > levels)) {
      throw reader.invalid(`${path}.default_priority_level`, `a level from 1 to priority_levels (${levels})`, raw.default_priority_level);
    }
    batching.default_priority_level = level;
  }
  if (raw.default_queue_policy !== undefined) batching.default_queue_policy = queuePolicy(reader, raw.default_queue_policy, `${path}.default_queue_policy`);
  reader.ignored(raw, path, 'priority_queue_policy', 'every priority level uses default_queue_policy');
  return batching;
}

export function checkPreferredSizes(reader: ConfigFieldReader, sizes: readonly number[], maxBatchSize: number): void {
  for (const [i, size] of sizes.entries()) {
    if (size > maxBatchSize) {
      throw reader.invalid(
        `dynamic_batching.preferred_batch_size[${i}]`,
        maxBatchSize === 0 ? 'absent: the model does not batch (max_batch_size 0)' : `at most max_batch_size (${maxBatchSize})`,
        size,
      );
    }
  }
}

function queuePolicy(reader: ConfigFieldReader, value: unknown, path: string): QueuePolicy {
  const raw = reader.object(value, path);
  reader.unknownKeys(raw, path, QUEUE_POLICY_FIELDS);
  const policy: QueuePolicy = {};
  if (raw.timeout_action !== undefined) {
    const action = reader.string(raw.timeout_action, `${path}.timeout_action`);
    if (action !== 'REJECT' && action !== 'DELAY') throw reader.invalid(`${path}.timeout_action`, "'REJECT' or 'DELAY'", action);
    policy.timeout_action = action;
  }
  if (raw.default_timeout_microseconds !== undefined) {
    policy.default_timeout_microseconds = reader.integer(raw.default_timeout_microseconds, `${path}.default_timeout_microseconds`, 0);
  }
  if (raw.allow_timeout_override !== undefined) policy.allow_timeout_override = reader.boolean(raw.allow_timeout_override, `${path}.allow_timeout_override`);
  if (raw.max_queue_size !== undefined) policy.max_queue_size = reader.integer(raw.max_queue_size, `${path}.max_queue_size`, 0);
  return policy;
}

function instanceGroups(reader: ConfigFieldReader, value: unknown): InstanceGroupConfig[] {
  return reader.list(value, 'instance_group').map((item, i) => {
    const at = `instance_group[${i}]`;
    const raw = reader.object(item, at);
    reader.unknownKeys(raw, at, INSTANCE_GROUP_FIELDS);
    const group: InstanceGroupConfig = {};
    if (raw.name !== undefined) {
      const name = reader.string(raw.name, `${at}.name`);
      if (name !== '') group.name = name;
    }
    if (raw.kind !== undefined) {
      const kind = reader.string(raw.kind, `${at}.kind`);
      if (kind === 'KIND_GPU') {
        throw reader.error(`'${at}.kind' is KIND_GPU, but Modelport has no GPU support; use KIND_CPU (or KIND_AUTO)`);
      }
      if (kind !== 'KIND_CPU' && kind !== 'KIND_AUTO') throw reader.invalid(`${at}.kind`, "'KIND_CPU' or 'KIND_AUTO'", kind);
      group.kind = kind;
    }
    if (raw.count !== undefined) {
      group.count = reader.integer(raw.count, `${at}.count`, 1);
      // Each instance is a worker thread holding its own session; a typo such as 1000 would
      // exhaust memory rather than fail.
      if (group.count > MAX_INSTANCES) throw reader.invalid(`${at}.count`, `at most ${MAX_INSTANCES} instances`, raw.count);
    }
    if (raw.gpus !== undefined && reader.list(raw.gpus, `${at}.gpus`).length > 0) {
      throw reader.error(`'${at}.gpus' lists GPUs, but Modelport has no GPU support; remove it`);
    }
    for (const key of ['rate_limiter', 'secondary_devices', 'profile', 'passive', 'host_policy']) {
      reader.ignored(raw, at, key, 'instance placement and rate limiting are not implemented');
    }
    return group;
  });
}

function parameters(reader: ConfigFieldReader, value: unknown): Record<string, ModelParameterValue> {
  const raw = reader.object(value, 'parameters');
  const result: Record<string, ModelParameterValue> = {};
  for (const [key, entry] of Object.entries(raw)) {
    const at = join('parameters', key);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || typeof (entry as ConfigObject).string_value !== 'string') {
      throw reader.invalid(at, '{"string_value": "<text>"} as in Triton', entry);
    }
    reader.unknownKeys(entry as ConfigObject, at, ['string_value']);
    const text = (entry as { string_value: string }).string_value;
    if (THREAD_PARAMETERS.includes(key)) {
      const threads = reader.integer(text, `${at}.string_value`, 0, 'a whole number of threads (0 = the engine default)');
      if (threads > MAX_THREADS) throw reader.invalid(`${at}.string_value`, `at most ${MAX_THREADS} threads`, text);
    }
    result[key] = { string_value: text };
  }
  return result;
}
