/**
 * Tensor data in the raw little-endian layout of the binary tensor data extension (and of gRPC raw
 * contents): fixed-size elements back to back, BYTES as a 4-byte little-endian length followed by
 * the bytes, per element. Decoding views the request body without copying whenever the element
 * alignment allows it, because a typed array cannot start at an unaligned offset; encoding writes
 * straight into the response buffer. Assumes a little-endian host (x86, ARM), like Triton.
 */
import { ARRAY_TYPES, ELEMENT_BYTES, type Datatype } from './datatypes.js';
import { mpError } from './errors.js';
import type { TensorData } from './tensor.js';

/**
 * Decodes `byteLength` bytes of `body` starting at `offset` as the data of one input. `count` is
 * the element count of `shape`, already checked to be a safe integer by the caller.
 */
export function decodeBinaryTensorData(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  count: number,
  body: Uint8Array,
  offset: number,
  byteLength: number,
): TensorData {
  if (datatype === 'BYTES') return decodeBytes(name, shape, count, body, offset, byteLength);
  const elementBytes = ELEMENT_BYTES[datatype];
  const expected = count * elementBytes;
  if (byteLength !== expected) {
    throw mpError(
      'MP_ERR_INPUT_DATA',
      `input byte size mismatch for input '${name}': ${datatype} with shape [${shape.join(',')}] needs ${expected} bytes, got ${byteLength}`,
    );
  }
  const Ctor = ARRAY_TYPES[datatype];
  const start = body.byteOffset + offset;
  if (start % elementBytes === 0) return new Ctor(body.buffer, start, count);
  const copy = new Ctor(count);
  new Uint8Array(copy.buffer).set(body.subarray(offset, offset + byteLength));
  return copy;
}

function decodeBytes(name: string, shape: readonly number[], count: number, body: Uint8Array, offset: number, byteLength: number): Uint8Array[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = offset + byteLength;
  const items: Uint8Array[] = [];
  let position = offset;
  while (position < end) {
    if (items.length === count) {
      throw mpError('MP_ERR_INPUT_DATA', `unable to parse binary data for input '${name}': more than the ${count} elements of shape [${shape.join(',')}]`);
    }
    if (position + 4 > end) {
      throw mpError('MP_ERR_INPUT_DATA', `unable to parse binary data for input '${name}': element ${items.length} has a truncated 4-byte length prefix`);
    }
    const length = view.getUint32(position, true);
    position += 4;
    if (position + length > end) {
      throw mpError(
        'MP_ERR_INPUT_DATA',
        `unable to parse binary data for input '${name}': element ${items.length} declares ${length} bytes but only ${end - position} remain in its data`,
      );
    }
    items.push(new Uint8Array(body.buffer, body.byteOffset + position, length));
    position += length;
  }
  if (items.length !== count) {
    throw mpError(
      'MP_ERR_INPUT_DATA',
      `unable to parse binary data for input '${name}': expected ${count} elements for shape [${shape.join(',')}], got ${items.length}`,
    );
  }
  return items;
}

/** Writes `data` raw into `target` at `offset`; returns the offset after it. */
export function writeBinaryTensorData(data: TensorData, target: Buffer, offset: number): number {
  if (!Array.isArray(data)) {
    target.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return offset + data.byteLength;
  }
  let position = offset;
  for (const item of data) {
    target.writeUInt32LE(item.byteLength, position);
    target.set(item, position + 4);
    position += 4 + item.byteLength;
  }
  return position;
}
