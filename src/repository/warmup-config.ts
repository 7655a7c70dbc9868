/**
 * Reads `model_warmup`, Triton's list of warm-up requests, from a configuration document: each
 * request's name, batch_size, count and inputs, each input's data_type, fixed dims and exactly one
 * source of data (zero_data, random_data or input_data_file). What needs the completed
 * configuration (input names and types, max_batch_size) is checked when a version loads, in
 * warmup-requests.ts.
 */
import { datatypeFromConfig, type ModelWarmup, type ModelWarmupInput } from '../core/index.js';
import { join, type ConfigFieldReader } from './config-field-reader.js';

const SAMPLE_FIELDS = ['name', 'batch_size', 'inputs', 'count'];
const INPUT_FIELDS = ['data_type', 'dims', 'zero_data', 'random_data', 'input_data_file'];
const DATA_SOURCES = ['zero_data', 'random_data', 'input_data_file'] as const;

export function parseModelWarmup(reader: ConfigFieldReader, value: unknown): ModelWarmup[] {
  return reader.list(value, 'model_warmup').map((item, i) => {
    const at = `model_warmup[${i}]`;
    const raw = reader.object(item, at);
    reader.unknownKeys(raw, at, SAMPLE_FIELDS);
    const inputs: Record<string, ModelWarmupInput> = {};
    const rawInputs = raw.inputs === undefined ? {} : reader.object(raw.inputs, `${at}.inputs`);
    for (const [name, entry] of Object.entries(rawInputs)) inputs[name] = warmupInput(reader, entry, join(`${at}.inputs`, name));
    return {
      name: raw.name === undefined ? '' : reader.string(raw.name, `${at}.name`),
      // Absent means one row; Triton's own /config prints what the file said.
      batch_size: raw.batch_size === undefined ? 1 : reader.integer(raw.batch_size, `${at}.batch_size`, 1),
      inputs,
      count: raw.count === undefined ? 0 : reader.integer(raw.count, `${at}.count`, 0),
    };
  });
}

function warmupInput(reader: ConfigFieldReader, value: unknown, at: string): ModelWarmupInput {
  const raw = reader.object(value, at);
  reader.unknownKeys(raw, at, INPUT_FIELDS);
  if (raw.data_type === undefined) throw reader.invalid(`${at}.data_type`, 'the input\'s Triton data type, e.g. TYPE_FP32', undefined);
  const dataType = reader.string(raw.data_type, `${at}.data_type`);
  if (datatypeFromConfig(dataType) === undefined) {
    throw reader.invalid(`${at}.data_type`, 'a Triton data type such as TYPE_FP32, TYPE_INT64, TYPE_BOOL or TYPE_STRING', dataType);
  }
  const dims = raw.dims === undefined ? [] : reader.integerList(raw.dims, `${at}.dims`, 0, 'a fixed size (0 or more; a warm-up request has no variable dimensions)');
  const input: ModelWarmupInput = { data_type: dataType, dims };
  // As in Triton, setting a source selects it; its value is not looked at.
  const sources = DATA_SOURCES.filter((key) => raw[key] !== undefined);
  if (sources.length !== 1) {
    throw reader.error(`'${at}' must set exactly one of ${DATA_SOURCES.join(', ')}, got ${sources.length === 0 ? 'none' : sources.join(' and ')}`);
  }
  if (sources[0] === 'input_data_file') {
    const file = reader.string(raw.input_data_file, `${at}.input_data_file`);
    const parts = file.split(/[/\\]/);
    // Joined to the model's warmup/ folder: it must name a file inside it.
    if (file === '' || file.includes('\0') || /^[/\\]/.test(file) || /^[a-zA-Z]:/.test(file) || parts.some((p) => p === '..' || p === '.' || p === '')) {
      throw reader.invalid(`${at}.input_data_file`, "a file inside the model's warmup/ folder (a relative path without '..')", file);
    }
    input.input_data_file = file;
  } else if (sources[0] === 'zero_data') {
    input.zero_data = true;
  } else {
    input.random_data = true;
  }
  return input;
}
