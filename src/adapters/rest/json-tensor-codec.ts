/**
 * Tensor data in the JSON form of the V2 protocol: `data` arrays (flat or nested in the tensor's
 * shape) to typed arrays on the way in, and flat JSON array text on the way out. Values are
 * checked against the datatype (integers in range, booleans, strings) because a silently wrapped
 * 300 in a UINT8 input is a wrong answer nobody notices. INT64/UINT64 arrive as numbers or, beyond
 * 2^53, as BigInt (parse-json-text.ts) and leave as plain digits, so they round-trip exactly.
 */
import { mpError, type Datatype, type TensorData } from '../../core/index.js';
import { describeJson } from './describe-json.js';

/** Triton's HTTP_MAX_JSON_NESTING_DEPTH. */
const MAX_NESTING_DEPTH = 100;

const INTEGER_RANGES = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
} as const;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * Decodes `data` of one input. `count` is the element count of `shape`, already checked to be a
 * safe integer by the caller.
 */
export function decodeJsonTensorData(name: string, datatype: Datatype, shape: readonly number[], count: number, data: unknown): TensorData {
  if (datatype === 'FP16' || datatype === 'BF16') {
    throw mpError('MP_ERR_INPUT_DATA', `receiving ${datatype} data via JSON is not supported. Please use the binary data format for input ${name}`);
  }
  if (!Array.isArray(data)) {
    throw mpError('MP_ERR_INPUT_DATA', `unable to parse 'data' for input '${name}': expected an array, got ${describeJson(data)}`);
  }
  // Flat data of the right length is the common case and converts without an intermediate array;
  // a nested element met on the way sends it through flatten() instead.
  if (data.length === count && !Array.isArray(data[0])) {
    const result = convert(name, datatype, data, count, true);
    if (result !== NESTED) return result;
  }
  const flat = flatten(name, data);
  if (flat.length !== count) {
    throw mpError(
      'MP_ERR_INPUT_DATA',
      `unable to parse 'data' for input '${name}': expected ${count} elements for shape [${shape.join(',')}], got ${flat.length}`,
    );
  }
  return convert(name, datatype, flat, count, false) as TensorData;
}

/** JSON array text for the data of an output; FP16/BF16 outputs are always sent binary instead. */
export function encodeJsonTensorData(datatype: Datatype, data: TensorData): string {
  if (Array.isArray(data)) {
    const parts = new Array<string>(data.length);
    for (let i = 0; i < data.length; i++) {
      const item = data[i]!;
      parts[i] = JSON.stringify(Buffer.from(item.buffer, item.byteOffset, item.byteLength).toString('utf8'));
    }
    return `[${parts.join(',')}]`;
  }
  if (datatype === 'BOOL') {
    const parts = new Array<string>(data.length);
    for (let i = 0; i < data.length; i++) parts[i] = data[i] ? 'true' : 'false';
    return `[${parts.join(',')}]`;
  }
  if (datatype === 'FP16' || datatype === 'BF16') {
    throw mpError('MP_ERR_INTERNAL', `sending ${datatype} data via JSON is not supported`);
  }
  // Typed arrays print each element as Number#toString (BigInt without the "n"), which is exactly
  // JSON's number syntax for finite values, and the shortest text that reads back the same double.
  const text = (data as { join(separator: string): string }).join(',');
  if (datatype === 'FP32' || datatype === 'FP64') {
    if (text.includes('N') || text.includes('I')) return `[${nonFiniteAsNull(data as Float32Array | Float64Array)}]`;
  }
  return `[${text}]`;
}

/** JSON has no NaN or Infinity; null keeps the element count and is what JSON.stringify writes. */
function nonFiniteAsNull(data: Float32Array | Float64Array): string {
  const parts = new Array<string>(data.length);
  for (let i = 0; i < data.length; i++) {
    const value = data[i]!;
    parts[i] = Number.isFinite(value) ? String(value) : 'null';
  }
  return parts.join(',');
}

const NESTED = Symbol('nested');

/**
 * Converts flat values; on the fast path (`mayBeNested`) an array element means the data is
 * nested after all, reported as NESTED so the caller flattens and tries again.
 */
function convert(name: string, datatype: Datatype, values: readonly unknown[], count: number, mayBeNested: boolean): TensorData | typeof NESTED {
  switch (datatype) {
    case 'FP32':
    case 'FP64': {
      const out = datatype === 'FP32' ? new Float32Array(count) : new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const value = values[i];
        if (typeof value === 'number') out[i] = value;
        else if (typeof value === 'bigint') out[i] = Number(value);
        else return invalid(name, datatype, values, i, mayBeNested);
      }
      return out;
    }
    case 'INT8':
    case 'INT16':
    case 'INT32':
    case 'UINT8':
    case 'UINT16':
    case 'UINT32': {
      const [min, max] = INTEGER_RANGES[datatype];
      const out = allocateInteger(datatype, count);
      for (let i = 0; i < count; i++) {
        const value = values[i];
        if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
          return invalid(name, datatype, values, i, mayBeNested);
        }
        out[i] = value;
      }
      return out;
    }
    case 'INT64':
    case 'UINT64': {
      const signed = datatype === 'INT64';
      const out = signed ? new BigInt64Array(count) : new BigUint64Array(count);
      for (let i = 0; i < count; i++) {
        const value = values[i];
        if (typeof value === 'number' && Number.isSafeInteger(value) && (signed || value >= 0)) {
          out[i] = BigInt(value);
        } else if (typeof value === 'bigint' && (signed ? value >= INT64_MIN && value <= INT64_MAX : value >= 0n && value <= UINT64_MAX)) {
          out[i] = value;
        } else {
          return invalid(name, datatype, values, i, mayBeNested);
        }
      }
      return out;
    }
    case 'BOOL': {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const value = values[i];
        if (value === true || value === 1) out[i] = 1;
        else if (value !== false && value !== 0) return invalid(name, datatype, values, i, mayBeNested);
      }
      return out;
    }
    case 'BYTES':
      return convertStrings(name, values, count, mayBeNested);
    default:
      throw mpError('MP_ERR_INPUT_DATA', `receiving ${datatype} data via JSON is not supported. Please use the binary data format for input ${name}`);
  }
}

function allocateInteger(datatype: keyof typeof INTEGER_RANGES, count: number): Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array {
  switch (datatype) {
    case 'INT8': return new Int8Array(count);
    case 'INT16': return new Int16Array(count);
    case 'INT32': return new Int32Array(count);
    case 'UINT8': return new Uint8Array(count);
    case 'UINT16': return new Uint16Array(count);
    case 'UINT32': return new Uint32Array(count);
  }
}

/**
 * All strings of a BYTES input go into one buffer the elements view, so the tensor owns its
 * memory outright and can be handed to a worker thread without another copy.
 */
function convertStrings(name: string, values: readonly unknown[], count: number, mayBeNested: boolean): Uint8Array[] | typeof NESTED {
  let total = 0;
  for (let i = 0; i < count; i++) {
    const value = values[i];
    if (typeof value !== 'string') return invalid(name, 'BYTES', values, i, mayBeNested);
    total += Buffer.byteLength(value, 'utf8');
  }
  const buffer = new ArrayBuffer(total);
  const writer = Buffer.from(buffer);
  const out = new Array<Uint8Array>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const written = writer.write(values[i] as string, offset, 'utf8');
    out[i] = new Uint8Array(buffer, offset, written);
    offset += written;
  }
  return out;
}

function invalid(name: string, datatype: Datatype, values: readonly unknown[], index: number, mayBeNested: boolean): typeof NESTED {
  const value = values[index];
  if (mayBeNested && Array.isArray(value)) return NESTED;
  throw mpError(
    'MP_ERR_INPUT_DATA',
    `unable to parse 'data' for input '${name}': ${describeJson(value)} at index ${index} is not a valid ${datatype} value (expected ${expectation(datatype)})`,
  );
}

function expectation(datatype: Datatype): string {
  switch (datatype) {
    case 'BOOL': return 'true, false, 0 or 1';
    case 'BYTES': return 'a string';
    case 'FP32':
    case 'FP64': return 'a number';
    case 'INT64': return `an integer in [${INT64_MIN}, ${INT64_MAX}]`;
    case 'UINT64': return `an integer in [0, ${UINT64_MAX}]`;
    default: {
      const [min, max] = INTEGER_RANGES[datatype as keyof typeof INTEGER_RANGES];
      return `an integer in [${min}, ${max}]`;
    }
  }
}

function flatten(name: string, data: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  const walk = (items: readonly unknown[], depth: number): void => {
    if (depth > MAX_NESTING_DEPTH) {
      throw mpError('MP_ERR_INPUT_DATA', `unable to parse 'data' for input '${name}': nested deeper than ${MAX_NESTING_DEPTH} levels`);
    }
    for (const item of items) {
      if (Array.isArray(item)) walk(item, depth + 1);
      else out.push(item);
    }
  };
  walk(data, 1);
  return out;
}
