/**
 * Typed `contents` of a gRPC input (InferTensorContents) to Modelport tensor data. Each datatype
 * reads exactly one field, as the protocol defines; values are range-checked so that an INT8 of
 * 300 is refused rather than wrapped. FP16 and BF16 have no typed field: they travel raw only.
 */
import { mpError, type Datatype, type TensorData } from '../../core/index.js';
import type { TensorContentsMessage } from './proto-types.js';

type ContentsField = keyof TensorContentsMessage;

const FIELD_BY_DATATYPE: Record<Exclude<Datatype, 'FP16' | 'BF16'>, ContentsField> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

const INT_RANGES: Partial<Record<Datatype, [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  UINT8: [0, 255],
  UINT16: [0, 65535],
};

export function decodeTensorContents(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  count: number,
  contents: TensorContentsMessage,
): TensorData {
  if (datatype === 'FP16' || datatype === 'BF16') {
    throw mpError('MP_ERR_INPUT_DATA', `input '${name}': ${datatype} data must be sent in raw_input_contents; InferTensorContents has no field for it`);
  }
  const field = FIELD_BY_DATATYPE[datatype];
  for (const other of Object.keys(FIELD_BY_DATATYPE) as Exclude<Datatype, 'FP16' | 'BF16'>[]) {
    const otherField = FIELD_BY_DATATYPE[other];
    if (otherField !== field && contents[otherField].length > 0) {
      throw mpError('MP_ERR_INPUT_DATA', `input '${name}' is ${datatype}, which uses contents.${field}, but contents.${otherField} is set`);
    }
  }
  const values = contents[field];
  if (values.length !== count) {
    throw mpError(
      'MP_ERR_INPUT_DATA',
      `input '${name}': shape [${shape.join(',')}] needs ${count} elements, but contents.${field} has ${values.length}`,
    );
  }
  switch (datatype) {
    case 'BYTES':
      return contents.bytes_contents.slice();
    case 'BOOL':
      return Uint8Array.from(contents.bool_contents, (v) => (v ? 1 : 0));
    case 'INT64':
      return BigInt64Array.from(contents.int64_contents, (v) => BigInt(v));
    case 'UINT64':
      return BigUint64Array.from(contents.uint64_contents, (v) => BigInt(v));
    case 'FP32':
      return Float32Array.from(contents.fp32_contents);
    case 'FP64':
      return Float64Array.from(contents.fp64_contents);
    case 'INT32':
      return Int32Array.from(contents.int_contents);
    case 'UINT32':
      return Uint32Array.from(contents.uint_contents);
    default: {
      const numbers = field === 'int_contents' ? contents.int_contents : contents.uint_contents;
      const [min, max] = INT_RANGES[datatype]!;
      for (let i = 0; i < numbers.length; i++) {
        const value = numbers[i]!;
        if (value < min || value > max) {
          throw mpError('MP_ERR_INPUT_DATA', `input '${name}': element ${i} is ${value}, outside the ${datatype} range [${min}, ${max}]`);
        }
      }
      if (datatype === 'INT8') return Int8Array.from(numbers);
      if (datatype === 'INT16') return Int16Array.from(numbers);
      if (datatype === 'UINT8') return Uint8Array.from(numbers);
      return Uint16Array.from(numbers);
    }
  }
}
