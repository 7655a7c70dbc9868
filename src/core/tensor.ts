/**
 * The protocol-neutral tensor that travels between layers: a name, a datatype, a row-major shape
 * and its elements. Adapters decode wire formats into this and encode it back; the runtime turns
 * it into engine tensors. Numeric data is a typed array so whole batches move between threads as
 * transferred ArrayBuffers.
 */
import { ARRAY_TYPES, type Datatype, type NumericArray } from './datatypes.js';

export type TensorData = NumericArray | Uint8Array[];

export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** Typed array for fixed-size datatypes; one Uint8Array per element for BYTES. */
  data: TensorData;
}

export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

/** Shape of a JSON value as nested arrays, following first elements; [] for a scalar. */
export function nestedShape(value: unknown): number[] {
  const shape: number[] = [];
  let current = value;
  while (Array.isArray(current)) {
    shape.push(current.length);
    current = current[0];
  }
  return shape;
}

export function isBytesData(data: TensorData): data is Uint8Array[] {
  return Array.isArray(data);
}

/** Allocates zero-filled storage for `count` elements of `datatype`. */
export function allocateData(datatype: Datatype, count: number): TensorData {
  if (datatype === 'BYTES') return Array.from({ length: count }, () => new Uint8Array(0));
  return new ARRAY_TYPES[datatype](count);
}

/** Total payload size in bytes as it would travel raw (BYTES counts 4-byte length prefixes). */
export function byteSize(tensor: Tensor): number {
  if (isBytesData(tensor.data)) {
    let size = 0;
    for (const item of tensor.data) size += 4 + item.byteLength;
    return size;
  }
  return tensor.data.byteLength;
}
