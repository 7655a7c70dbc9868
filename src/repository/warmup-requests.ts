/**
 * Turns a version's `model_warmup` samples into the requests that warm its instances up, checked
 * against the completed configuration: every input the model needs is given, each with the
 * configured data type and dims that fit the configured ones, and batch_size within
 * max_batch_size (exactly 1 for a model that does not batch). A sample's inputs are repeated
 * batch_size times along the batch dimension, as Triton does.
 *
 * Data: zeros (BYTES: empty elements); random values (floats in [0, 1), integers in [0, 127],
 * booleans; BYTES falls back to empty elements as in Triton); or the raw row-major bytes of a file
 * in the model folder's warmup/ subfolder, little-endian, BYTES elements each a 4-byte length and
 * then the bytes. A file of the wrong size is refused, naming the size expected.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ARRAY_TYPES,
  ELEMENT_BYTES,
  datatypeFromConfig,
  elementCount,
  mpError,
  numberToBf16,
  numberToHalf,
  type Datatype,
  type ModelConfig,
  type ModelWarmupInput,
  type ModelportError,
  type NumericArray,
  type Tensor,
  type TensorData,
} from '../core/index.js';

/** The folder beside the version folders that holds input_data_file files. */
export const WARMUP_FOLDER = 'warmup';
/** Elements one warm-up input may hold, batch included: a typo in dims must not exhaust memory at load. */
const MAX_WARMUP_ELEMENTS = 1 << 26;

export interface WarmupRequest {
  /** "sample 'name'" or "sample 2", for messages. */
  label: string;
  /** Runs per instance (count 0 means once). */
  runs: number;
  /** Fresh tensors for each run: a run may transfer its inputs' buffers to a worker thread. */
  inputs(): Tensor[];
}

export async function warmupRequests(config: ModelConfig, modelDir: string): Promise<WarmupRequest[]> {
  const samples = config.model_warmup ?? [];
  const requests: WarmupRequest[] = [];
  for (const [i, sample] of samples.entries()) {
    const label = sample.name !== '' ? `warm-up sample '${sample.name}'` : `warm-up sample ${i}`;
    const fail = (message: string): ModelportError => mpError('MP_ERR_MODEL_CONFIG', `model '${config.name}': ${label}: ${message}`);
    const batching = config.max_batch_size > 0;
    if (batching && sample.batch_size > config.max_batch_size) {
      throw fail(`batch_size ${sample.batch_size} is larger than max_batch_size ${config.max_batch_size}`);
    }
    if (!batching && sample.batch_size !== 1) throw fail(`batch_size must be 1 for a model that does not batch (max_batch_size 0), got ${sample.batch_size}`);
    for (const name of Object.keys(sample.inputs)) {
      if (!config.input.some((input) => input.name === name)) {
        throw fail(`input '${name}' is not an input of the model; its inputs are ${config.input.map((input) => `'${input.name}'`).join(', ')}`);
      }
    }
    const rows: Array<{ name: string; datatype: Datatype; shape: number[]; data: TensorData }> = [];
    for (const input of config.input) {
      const given = sample.inputs[input.name];
      if (given === undefined) {
        if (input.optional) continue;
        throw fail(`input '${input.name}' is missing; a warm-up request must give every input the model needs`);
      }
      if (given.data_type !== input.data_type) throw fail(`input '${input.name}' has data_type ${given.data_type}, but the model's is ${input.data_type}`);
      const fits = given.dims.length === input.dims.length && given.dims.every((d, k) => input.dims[k] === -1 || input.dims[k] === d);
      if (!fits) throw fail(`input '${input.name}' has dims [${given.dims.join(',')}], which do not fit the model's [${input.dims.join(',')}]`);
      const elements = elementCount(given.dims) * (batching ? sample.batch_size : 1);
      if (elements > MAX_WARMUP_ELEMENTS) throw fail(`input '${input.name}' would hold ${elements} elements; a warm-up input holds at most ${MAX_WARMUP_ELEMENTS}`);
      const datatype = datatypeFromConfig(given.data_type)!;
      const data = await sampleData(given, datatype, modelDir, (message) => fail(`input '${input.name}': ${message}`));
      rows.push({ name: input.name, datatype, shape: given.dims, data });
    }
    requests.push({
      label,
      runs: Math.max(1, sample.count),
      inputs: () =>
        rows.map(({ name, datatype, shape, data }) => ({
          name,
          datatype,
          shape: batching ? [sample.batch_size, ...shape] : [...shape],
          data: repeat(data, batching ? sample.batch_size : 1),
        })),
    });
  }
  return requests;
}

/** One row of the input: its elements, from the sample's chosen source. */
async function sampleData(input: ModelWarmupInput, datatype: Datatype, modelDir: string, fail: (message: string) => ModelportError): Promise<TensorData> {
  const count = elementCount(input.dims);
  if (input.input_data_file !== undefined) {
    const path = join(modelDir, WARMUP_FOLDER, input.input_data_file);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      throw fail(`cannot read input_data_file '${WARMUP_FOLDER}/${input.input_data_file}': ${(error as Error).message}`);
    }
    return datatype === 'BYTES' ? bytesElements(bytes, count, fail) : fixedElements(bytes, datatype, count, fail);
  }
  if (datatype === 'BYTES') return Array.from({ length: count }, () => new Uint8Array(0));
  const data = new ARRAY_TYPES[datatype](count);
  if (input.random_data) fillRandom(data, datatype);
  return data;
}

function fixedElements(bytes: Buffer, datatype: Exclude<Datatype, 'BYTES'>, count: number, fail: (message: string) => ModelportError): NumericArray {
  const expected = count * ELEMENT_BYTES[datatype];
  if (bytes.length !== expected) throw fail(`input_data_file holds ${bytes.length} bytes, expected ${expected} (${count} elements of ${datatype})`);
  // Copied into a buffer of its own: aligned for the typed array, and not a slice of Node's pool.
  const own = new Uint8Array(expected);
  own.set(bytes);
  return new ARRAY_TYPES[datatype](own.buffer, 0, count);
}

function bytesElements(bytes: Buffer, count: number, fail: (message: string) => ModelportError): Uint8Array[] {
  const elements: Uint8Array[] = [];
  let at = 0;
  while (elements.length < count) {
    if (at + 4 > bytes.length) throw fail(`input_data_file ends after ${elements.length} of ${count} elements (each a 4-byte length, then its bytes)`);
    const length = bytes.readUInt32LE(at);
    at += 4;
    if (at + length > bytes.length) throw fail(`input_data_file's element ${elements.length} says ${length} bytes, but only ${bytes.length - at} remain`);
    elements.push(Uint8Array.from(bytes.subarray(at, at + length)));
    at += length;
  }
  if (at !== bytes.length) throw fail(`input_data_file has ${bytes.length - at} bytes after its ${count} elements`);
  return elements;
}

function fillRandom(data: NumericArray, datatype: Exclude<Datatype, 'BYTES'>): void {
  for (let i = 0; i < data.length; i++) {
    const unit = Math.random();
    switch (datatype) {
      case 'FP32':
      case 'FP64':
        data[i] = unit;
        break;
      // Capped below 1: the nearest half or bfloat16 of a value just under 1 is 1.
      case 'FP16':
        data[i] = numberToHalf(Math.min(unit, 0.99));
        break;
      case 'BF16':
        data[i] = numberToBf16(Math.min(unit, 0.99));
        break;
      case 'BOOL':
        data[i] = unit < 0.5 ? 0 : 1;
        break;
      case 'INT64':
      case 'UINT64':
        data[i] = BigInt(Math.floor(unit * 128));
        break;
      default:
        data[i] = Math.floor(unit * 128);
    }
  }
}

/** The row repeated `times` times, in a new array (each run gets buffers of its own). */
function repeat(data: TensorData, times: number): TensorData {
  if (Array.isArray(data)) {
    const out: Uint8Array[] = [];
    for (let t = 0; t < times; t++) for (const element of data) out.push(Uint8Array.from(element));
    return out;
  }
  const numeric = data as NumericArray;
  const out = new (numeric.constructor as new (length: number) => NumericArray)(numeric.length * times);
  for (let t = 0; t < times; t++) (out as Float32Array).set(numeric as Float32Array, t * numeric.length);
  return out;
}
