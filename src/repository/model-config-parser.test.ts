/**
 * Tests of reading model configurations: a full Triton JSON config and its YAML twin, syntax errors
 * with their position, each family of field checks and its message, warnings for fields Modelport
 * ignores, and how a model folder's configuration file is found.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isModelportError, silentLogger, type Logger } from '../core/index.js';
import { parseModelConfig, readModelConfig, type ConfigFormat } from './model-config-parser.js';

/** A logger that keeps warning messages. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger = {
    warnings,
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: (a: unknown, b?: string) => warnings.push(typeof a === 'string' ? a : (b ?? '')),
    error: () => {},
    child: () => logger,
  };
  return logger as Logger & { warnings: string[] };
}

function parse(config: unknown, format: ConfigFormat = 'json', logger: Logger = silentLogger) {
  const text = typeof config === 'string' ? config : JSON.stringify(config);
  return parseModelConfig(text, { model: 'm', source: format === 'json' ? 'config.json' : 'config.yaml', format, backend: 'onnxruntime', platform: 'onnxruntime_onnx', logger });
}

function rejects(config: unknown, pattern: RegExp, format: ConfigFormat = 'json'): void {
  assert.throws(
    () => parse(config, format),
    (error: unknown) => {
      assert.ok(isModelportError(error), String(error));
      assert.equal(error.code, 'MP_ERR_MODEL_CONFIG');
      assert.match(error.message, pattern);
      return true;
    },
  );
}

const full = {
  name: 'm',
  backend: 'onnxruntime',
  platform: 'onnxruntime_onnx',
  max_batch_size: 8,
  input: [
    { name: 'a', data_type: 'TYPE_FP32', dims: [3, -1] },
    { name: 'mask', data_type: 'TYPE_BOOL', dims: [3], optional: true },
  ],
  output: [{ name: 'y', data_type: 'TYPE_STRING', dims: [1], label_filename: 'labels.txt' }],
  version_policy: { latest: { num_versions: 2 } },
  dynamic_batching: {
    preferred_batch_size: [4, 8],
    max_queue_delay_microseconds: 100,
    priority_levels: 2,
    default_priority_level: 1,
    default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 5000, allow_timeout_override: true, max_queue_size: 16 },
  },
  instance_group: [{ count: 2, kind: 'KIND_CPU' }, { name: 'extra', kind: 'KIND_AUTO' }],
  parameters: { intra_op_thread_count: { string_value: '2' } },
  default_model_filename: 'net.onnx',
};

describe('parseModelConfig', () => {
  it('reads a full Triton JSON configuration', () => {
    const config = parse(full);
    assert.equal(config.name, 'm');
    assert.equal(config.max_batch_size, 8);
    assert.deepEqual(config.input, [
      { name: 'a', data_type: 'TYPE_FP32', dims: [3, -1] },
      { name: 'mask', data_type: 'TYPE_BOOL', dims: [3], optional: true },
    ]);
    assert.deepEqual(config.output, [{ name: 'y', data_type: 'TYPE_STRING', dims: [1], label_filename: 'labels.txt' }]);
    assert.deepEqual(config.version_policy, { latest: { num_versions: 2 } });
    assert.deepEqual(config.dynamic_batching?.preferred_batch_size, [4, 8]);
    assert.equal(config.dynamic_batching?.default_queue_policy?.max_queue_size, 16);
    assert.deepEqual(config.instance_group, [{ count: 2, kind: 'KIND_CPU' }, { name: 'extra', kind: 'KIND_AUTO' }]);
    assert.deepEqual(config.parameters, { intra_op_thread_count: { string_value: '2' } });
    assert.equal(config.default_model_filename, 'net.onnx');
  });

  it('reads the same configuration written as YAML', () => {
    const yaml = `
# comment
name: m
max_batch_size: 8
input:
  - name: a
    data_type: TYPE_FP32
    dims: [3, -1]
output:
  - { name: y, data_type: TYPE_STRING, dims: [1] }
version_policy: { all: {} }
dynamic_batching:
  preferred_batch_size: [4]
instance_group:
  - count: 2
    kind: KIND_CPU
`;
    const config = parse(yaml, 'yaml');
    assert.equal(config.max_batch_size, 8);
    assert.deepEqual(config.input, [{ name: 'a', data_type: 'TYPE_FP32', dims: [3, -1] }]);
    assert.deepEqual(config.version_policy, { all: {} });
    assert.deepEqual(config.instance_group, [{ count: 2, kind: 'KIND_CPU' }]);
    assert.deepEqual(parse('', 'yaml'), {}, 'an empty YAML file is an empty configuration');
  });

  it('accepts protobuf-JSON integers written as strings and a Triton /config round trip', () => {
    const config = parse({
      ...full,
      max_batch_size: '8',
      runtime: '',
      input: [{ name: 'a', data_type: 'TYPE_FP32', format: 'FORMAT_NONE', dims: ['3', '-1'], is_shape_tensor: false, allow_ragged_batch: false, optional: false }],
      batch_input: [],
      batch_output: [],
      model_warmup: [],
      metric_tags: {},
      instance_group: [{ name: 'm', kind: 'KIND_CPU', count: 1, gpus: [], secondary_devices: [], profile: [], passive: false, host_policy: '' }],
    });
    assert.equal(config.max_batch_size, 8);
    assert.deepEqual(config.input, [{ name: 'a', data_type: 'TYPE_FP32', dims: [3, -1] }]);
  });

  it('reports syntax errors with the parser message and position', () => {
    rejects('{\n  "max_batch_size": 8,\n  "input": }', /config\.json is not valid JSON: .*line 3, column 12/);
    rejects('{"max_batch_size": "lots",', /not valid JSON: .*line 1/);
    rejects('max_batch_size: 8\ninput: [\n  - a', /config\.yaml is not valid YAML: .*line \d+, column \d+/, 'yaml');
    rejects('a: 1\na: 2', /not valid YAML: .*[Dd]uplicate|unique/, 'yaml');
    rejects('[1, 2]', /the configuration must be an object/);
  });

  it('checks types and ranges, naming the field and what was expected', () => {
    rejects({ max_batch_size: 'abc' }, /model 'm': config\.json: 'max_batch_size' must be a non-negative integer, got "abc"/);
    rejects({ max_batch_size: -1 }, /'max_batch_size' must be a non-negative integer, got -1/);
    rejects({ max_batch_size: 1.5 }, /'max_batch_size' must be a non-negative integer, got 1\.5/);
    rejects({ name: 'other' }, /'name' must be the model folder's name 'm', got "other"/);
    rejects({ name: 7 }, /'name' must be a string, got 7/);
    rejects({ backend: 'pytorch' }, /'backend' must be 'onnxruntime', the only backend Modelport runs, got "pytorch"/);
    rejects({ platform: 'tensorrt_plan' }, /'platform' must be 'onnxruntime_onnx'/);
    rejects({ input: {} }, /'input' must be a list, got \{\}/);
    // What one configuration (a load request's, too) may ask the process for.
    rejects({ instance_group: [{ count: 100000 }] }, /'instance_group\[0\]\.count' must be at most 64 instances, got 100000/);
    rejects({ parameters: { intra_op_thread_count: { string_value: '100000' } } }, /must be at most 256 threads, got "100000"/);
    // A value too deep to print (String() would recurse as deep) is still named.
    rejects(`{"input": [${'['.repeat(20000)}${']'.repeat(20000)}]}`, /'input\[0\]' must be an object, got a list/);
    rejects({ input: [{ data_type: 'TYPE_FP32' }] }, /'input\[0\]\.name' must be the input's name/);
    rejects({ input: [{ name: 'a' }, { name: 'a' }] }, /'input\[1\]\.name' repeats input 'a'/);
    rejects({ input: [{ name: 'a', data_type: 'FP32' }] }, /'input\[0\]\.data_type' must be a Triton data type such as TYPE_FP32.*got "FP32"/);
    rejects({ output: [{ name: 'y', dims: [3, 0] }] }, /'output\[0\]\.dims\[1\]' must be an integer >= 1, or -1 for a dimension of any size, got 0/);
    rejects({ output: [{ name: 'y', dims: [-2] }] }, /'output\[0\]\.dims\[0\]' must be an integer >= 1, or -1/);
    rejects({ input: [{ name: 'a', dims: '3' }] }, /'input\[0\]\.dims' must be a list/);
    rejects({ input: [{ name: 'a', dims: [3], optional: 'yes' }] }, /'input\[0\]\.optional' must be true or false/);
    rejects({ output: [{ name: 'y', optional: true }] }, /'output\[0\]\.optional' applies to inputs only/);
    rejects({ input: [{ name: 'a', dims: [6], reshape: { shape: [2, 3] } }] }, /'input\[0\]\.reshape' is not supported/);
    rejects({ input: [{ name: 'a', dims: [2], is_shape_tensor: true }] }, /'input\[0\]\.is_shape_tensor' is not supported/);
    rejects({ default_model_filename: '../../etc/passwd' }, /'default_model_filename' must be a file name inside the version folder/);
    rejects({ parameters: { intra_op_thread_count: '4' } }, /'parameters\.intra_op_thread_count' must be \{"string_value": "<text>"\}/);
    rejects({ parameters: { intra_op_thread_count: { string_value: 'many' } } }, /'parameters\.intra_op_thread_count\.string_value' must be a whole number of threads/);
  });

  it('checks the version policy', () => {
    rejects({ version_policy: {} }, /'version_policy' must be exactly one of/);
    rejects({ version_policy: { all: {}, latest: { num_versions: 1 } } }, /'version_policy' must be exactly one of/);
    rejects({ version_policy: { latest: { num_versions: 0 } } }, /'version_policy\.latest\.num_versions' must be an integer >= 1, got 0/);
    rejects({ version_policy: { latest: {} } }, /'version_policy\.latest\.num_versions' must be an integer >= 1, got nothing/);
    rejects({ version_policy: { specific: { versions: [] } } }, /'version_policy\.specific\.versions' must be a list of at least one version/);
    rejects({ version_policy: { specific: { versions: [1, 0] } } }, /'version_policy\.specific\.versions\[1\]' must be a version number >= 1/);
    assert.deepEqual(parse({ version_policy: { specific: { versions: [3, 1, 3] } } }).version_policy, { specific: { versions: [1, 3] } });
  });

  it('checks dynamic batching and its queue policy', () => {
    rejects({ max_batch_size: 4, dynamic_batching: { preferred_batch_size: [2, 8] } }, /'dynamic_batching\.preferred_batch_size\[1\]' must be at most max_batch_size \(4\), got 8/);
    rejects({ max_batch_size: 0, dynamic_batching: { preferred_batch_size: [2] } }, /must be absent: the model does not batch/);
    rejects({ dynamic_batching: { preferred_batch_size: [0] } }, /'dynamic_batching\.preferred_batch_size\[0\]' must be an integer >= 1/);
    rejects({ dynamic_batching: { max_queue_delay_microseconds: -5 } }, /'dynamic_batching\.max_queue_delay_microseconds' must be a non-negative integer, got -5/);
    rejects({ dynamic_batching: { default_queue_policy: { timeout_action: 'DROP' } } }, /'dynamic_batching\.default_queue_policy\.timeout_action' must be 'REJECT' or 'DELAY', got "DROP"/);
    rejects({ dynamic_batching: { default_queue_policy: { max_queue_size: 'big' } } }, /'dynamic_batching\.default_queue_policy\.max_queue_size' must be a non-negative integer/);
    rejects({ dynamic_batching: { default_queue_policy: { allow_timeout_override: 1 } } }, /'dynamic_batching\.default_queue_policy\.allow_timeout_override' must be true or false/);
    rejects({ dynamic_batching: { default_queue_policy: { default_timeout_microseconds: -1 } } }, /default_timeout_microseconds' must be a non-negative integer/);
    rejects({ dynamic_batching: { priority_levels: 2, default_priority_level: 3 } }, /'dynamic_batching\.default_priority_level' must be a level from 1 to priority_levels \(2\), got 3/);
    rejects({ dynamic_batching: { default_priority_level: 1 } }, /must be 0 when 'priority_levels' is not set/);
  });

  it('checks instance groups: CPU only', () => {
    rejects({ instance_group: [{ kind: 'KIND_GPU' }] }, /'instance_group\[0\]\.kind' is KIND_GPU, but Modelport has no GPU support/);
    rejects({ instance_group: [{ kind: 'KIND_TPU' }] }, /'instance_group\[0\]\.kind' must be 'KIND_CPU' or 'KIND_AUTO', got "KIND_TPU"/);
    rejects({ instance_group: [{ count: 0 }] }, /'instance_group\[0\]\.count' must be an integer >= 1, got 0/);
    rejects({ instance_group: [{ gpus: [0] }] }, /'instance_group\[0\]\.gpus' lists GPUs/);
    rejects({ instance_group: {} }, /'instance_group' must be a list/);
  });

  it('reads model_warmup samples as Triton writes them, with one data source per input', () => {
    const config = parse({
      model_warmup: [
        { name: 'zeros', batch_size: '4', count: 2, inputs: { a: { data_type: 'TYPE_FP32', dims: ['3', 5], zero_data: true } } },
        { inputs: { a: { data_type: 'TYPE_FP32', dims: [3, 5], random_data: false }, s: { data_type: 'TYPE_STRING', input_data_file: 'text/s.bin' } } },
      ],
    });
    assert.deepEqual(config.model_warmup, [
      { name: 'zeros', batch_size: 4, count: 2, inputs: { a: { data_type: 'TYPE_FP32', dims: [3, 5], zero_data: true } } },
      // As in Triton, setting a source selects it whatever its value.
      { name: '', batch_size: 1, count: 0, inputs: { a: { data_type: 'TYPE_FP32', dims: [3, 5], random_data: true }, s: { data_type: 'TYPE_STRING', dims: [], input_data_file: 'text/s.bin' } } },
    ]);
    assert.equal(parse({ model_warmup: [] }).model_warmup, undefined, 'an empty list is no warm-up');
    const sample = (input: unknown, extra: object = {}) => ({ model_warmup: [{ ...extra, inputs: { a: input } }] });
    rejects(sample({ data_type: 'TYPE_FP32', dims: [3] }), /'model_warmup\[0\]\.inputs\.a' must set exactly one of zero_data, random_data, input_data_file, got none/);
    rejects(sample({ data_type: 'TYPE_FP32', dims: [3], zero_data: true, random_data: true }), /got zero_data and random_data/);
    rejects(sample({ dims: [3], zero_data: true }), /'model_warmup\[0\]\.inputs\.a\.data_type' must be the input's Triton data type/);
    rejects(sample({ data_type: 'FP32', dims: [3], zero_data: true }), /'model_warmup\[0\]\.inputs\.a\.data_type' must be a Triton data type/);
    rejects(sample({ data_type: 'TYPE_FP32', dims: [-1], zero_data: true }), /'model_warmup\[0\]\.inputs\.a\.dims\[0\]' must be a fixed size/);
    rejects(sample({ data_type: 'TYPE_FP32', dims: [3], zero_data: true }, { batch_size: 0 }), /'model_warmup\[0\]\.batch_size' must be an integer >= 1/);
    rejects(sample({ data_type: 'TYPE_FP32', dims: [3], zero_data: true }, { count: -1 }), /'model_warmup\[0\]\.count' must be a non-negative integer/);
    for (const file of ['../secret', 'a/../../b', '/etc/passwd', 'C:\\x', '', 'a//b', './a']) {
      rejects(sample({ data_type: 'TYPE_FP32', dims: [3], input_data_file: file }), /input_data_file' must be a file inside the model's warmup\/ folder/);
    }
    rejects({ model_warmup: {} }, /'model_warmup' must be a list/);
  });

  it('refuses Triton features that would change behaviour', () => {
    rejects({ sequence_batching: {} }, /'sequence_batching' is not supported/);
    rejects({ ensemble_scheduling: { step: [] } }, /'ensemble_scheduling' is not supported/);
    rejects({ model_transaction_policy: { decoupled: true } }, /'model_transaction_policy\.decoupled' is not supported/);
    parse({ model_transaction_policy: { decoupled: false } });
  });

  it('warns about unknown and ignored fields without failing', () => {
    const logger = recordingLogger();
    parse({ max_batchsize: 8, optimization: { priority: 'PRIORITY_MAX' }, input: [{ name: 'a', colour: 'red' }], model_warmup: [] }, 'json', logger);
    assert.equal(logger.warnings.length, 3, logger.warnings.join('\n'));
    assert.match(logger.warnings[0]!, /'max_batchsize' is not a known configuration field/);
    assert.match(logger.warnings.join('\n'), /'input\[0\]\.colour' is not a known/);
    assert.match(logger.warnings.join('\n'), /'optimization' is ignored/);
  });
});

describe('readModelConfig', () => {
  const root = mkdtempSync(join(tmpdir(), 'modelport-config-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const options = { model: 'm', backend: 'onnxruntime', platform: 'onnxruntime_onnx', logger: silentLogger };
  const folder = (name: string, files: Record<string, string>) => {
    const dir = join(root, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
    return dir;
  };

  it('finds config.json, config.yaml or config.yml, and none at all', async () => {
    assert.deepEqual(await readModelConfig(folder('json', { 'config.json': '{"max_batch_size": 2}' }), options), {
      config: { max_batch_size: 2 },
      text: '{"max_batch_size": 2}',
      file: 'config.json',
    });
    assert.equal((await readModelConfig(folder('yml', { 'config.yml': 'max_batch_size: 3' }), options)).config.max_batch_size, 3);
    assert.deepEqual(await readModelConfig(folder('none', {}), options), { config: {}, text: '' });
  });

  it('refuses two configuration files and a lone config.pbtxt', async () => {
    await assert.rejects(readModelConfig(folder('both', { 'config.json': '{}', 'config.yaml': '' }), options), /config\.json and config\.yaml; keep exactly one/);
    await assert.rejects(readModelConfig(folder('pbtxt', { 'config.pbtxt': 'max_batch_size: 8' }), options), /config\.pbtxt .*write the same configuration as config\.json/);
  });

  it('names the file in messages', async () => {
    await assert.rejects(readModelConfig(folder('bad', { 'config.yaml': 'max_batch_size: many' }), options), /model 'm': config\.yaml: 'max_batch_size' must be a non-negative integer, got "many"/);
  });
});
