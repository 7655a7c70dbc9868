/**
 * Conversions between Modelport tensors (protocol datatypes, typed arrays, BYTES as Uint8Array[])
 * and onnxruntime-node tensors. They run in the instance worker on every batch, so numeric data is
 * wrapped, never copied: onnxruntime-node reads input typed arrays in place and hands outputs back
 * in fresh ArrayBuffers that can be transferred to the main thread as they are.
 */
import { Tensor as OrtTensor } from 'onnxruntime-node';
import {
  ARRAY_TYPES,
  isBytesData,
  mpError,
  type Datatype,
  type NumericArray,
  type Tensor,
} from '../../core/index.js';

export type OrtType = OrtTensor.Type;

/**
 * Protocol datatype → onnxruntime tensor type. BF16 has no entry: onnxruntime-node cannot create
 * or return bfloat16 tensors (it even refuses to load models with bfloat16 inputs or outputs).
 */
export const ORT_TYPES: Readonly<Record<Datatype, OrtType | undefined>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  BF16: undefined,
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const DATATYPES_BY_ORT_TYPE: ReadonlyMap<string, Datatype> = new Map(
  Object.entries(ORT_TYPES)
    .filter((entry): entry is [Datatype, OrtType] => entry[1] !== undefined)
    .map(([datatype, ortType]) => [ortType, datatype]),
);

/** onnxruntime tensor type → protocol datatype, undefined for types Modelport cannot carry (int4…). */
export function datatypeFromOrtType(type: string): Datatype | undefined {
  return DATATYPES_BY_ORT_TYPE.get(type);
}

// Stateless codecs; `fatal` because onnxruntime strings are text and silently replacing bytes
// would hand the model something the client never sent.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Wraps a Modelport tensor as an onnxruntime tensor. Numeric data is used in place; a typed array of
 * the wrong element type (e.g. raw bytes for FP32) is reinterpreted over the same memory when its
 * alignment allows and copied otherwise, because onnxruntime requires the exact array type.
 */
export function toOrtTensor(tensor: Tensor): OrtTensor {
  const { name, datatype, shape, data } = tensor;
  const type = ORT_TYPES[datatype];
  if (type === undefined) {
    throw mpError('MP_ERR_RUNTIME_FAILED', `input '${name}': BF16 is not supported by onnxruntime`);
  }
  if (datatype === 'BYTES') {
    if (!isBytesData(data)) {
      throw mpError('MP_ERR_INPUT_DATA', `input '${name}': BYTES data must be one Uint8Array per element`);
    }
    return new OrtTensor('string', decodeStrings(name, data), shape);
  }
  if (isBytesData(data)) {
    throw mpError('MP_ERR_INPUT_DATA', `input '${name}': ${datatype} data must be a typed array, got a list of byte strings`);
  }
  return new OrtTensor(type, asArrayType(datatype, data) as never, shape);
}

/** Turns one onnxruntime output into a Modelport tensor (FP16 as raw Uint16Array bits, strings as UTF-8). */
export function fromOrtTensor(name: string, tensor: OrtTensor): Tensor {
  const datatype = datatypeFromOrtType(tensor.type);
  if (datatype === undefined) {
    throw mpError('MP_ERR_RUNTIME_FAILED', `output '${name}' has onnxruntime type '${tensor.type}', which Modelport cannot return`);
  }
  const shape = Array.from(tensor.dims);
  if (datatype === 'BYTES') return { name, datatype, shape, data: encodeStrings(tensor.data as string[]) };
  return { name, datatype, shape, data: asArrayType(datatype, tensor.data as NumericArray) };
}

/**
 * Gives `data` the typed-array class Modelport uses for `datatype`. Normally a no-op; it matters for
 * FP16 where a runtime with Float16Array would hand back halves instead of raw bits, and for callers
 * that pass the right bytes in the wrong view (Uint8Array over FP32, a Node Buffer for INT8).
 */
export function asArrayType(datatype: Exclude<Datatype, 'BYTES'>, data: NumericArray): NumericArray {
  const ArrayType = ARRAY_TYPES[datatype];
  if (data instanceof ArrayType) return data;
  const size = ArrayType.BYTES_PER_ELEMENT;
  if (data.byteLength % size !== 0) {
    throw mpError('MP_ERR_INPUT_DATA', `${datatype} data of ${data.byteLength} bytes is not a whole number of ${size}-byte elements`);
  }
  if (data.byteOffset % size === 0) return new ArrayType(data.buffer, data.byteOffset, data.byteLength / size);
  const copy = new Uint8Array(data.byteLength);
  copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return new ArrayType(copy.buffer, 0, data.byteLength / size);
}

/**
 * UTF-8 decodes each BYTES element; onnxruntime string tensors take JavaScript strings. A NUL byte
 * is refused because onnxruntime-node cuts the string there, which would silently change the data.
 */
export function decodeStrings(name: string, items: readonly Uint8Array[]): string[] {
  const strings = new Array<string>(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.indexOf(0) !== -1) {
      throw mpError(
        'MP_ERR_INPUT_DATA',
        `input '${name}': BYTES element ${i} contains a NUL byte, which onnxruntime string tensors cannot carry`,
      );
    }
    try {
      strings[i] = utf8Decoder.decode(item);
    } catch {
      throw mpError(
        'MP_ERR_INPUT_DATA',
        `input '${name}': BYTES element ${i} is not valid UTF-8; onnxruntime string tensors carry text`,
      );
    }
  }
  return strings;
}

/**
 * UTF-8 encodes strings into ONE fresh buffer and returns a view per element, so a whole BYTES
 * output crosses threads as a single transferred ArrayBuffer.
 */
export function encodeStrings(strings: readonly string[]): Uint8Array[] {
  let total = 0;
  const lengths = new Array<number>(strings.length);
  for (let i = 0; i < strings.length; i++) {
    lengths[i] = Buffer.byteLength(strings[i]!, 'utf8');
    total += lengths[i]!;
  }
  const packed = new Uint8Array(total);
  const items = new Array<Uint8Array>(strings.length);
  let offset = 0;
  for (let i = 0; i < strings.length; i++) {
    const item = packed.subarray(offset, offset + lengths[i]!);
    utf8Encoder.encodeInto(strings[i]!, item);
    items[i] = item;
    offset += lengths[i]!;
  }
  return items;
}
