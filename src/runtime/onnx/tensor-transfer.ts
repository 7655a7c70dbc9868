/**
 * Prepares tensors to cross a thread boundary without structured-clone copies: every buffer a
 * tensor owns outright goes in the transfer list, and only data that merely views part of a larger
 * or shared buffer (a Node Buffer from the pool, a slice of an HTTP body, a SharedArrayBuffer) is
 * copied first, because transferring that buffer would detach memory other code still uses.
 * Used in both directions: batch inputs to the instance worker, outputs back.
 */
import { ARRAY_TYPES, isBytesData, type Datatype, type NumericArray, type Tensor, type TensorData } from '../../core/index.js';

export interface TransferPlan {
  /** The tensors to post; the same objects unless some data had to be copied. */
  tensors: Tensor[];
  /** Distinct ArrayBuffers to pass as postMessage's transfer list. */
  transfer: ArrayBuffer[];
}

/**
 * Decides, per tensor, whether its memory can be transferred or must be copied first, and
 * collects the transfer list. After posting with it, the original buffers are detached.
 */
export function planTransfer(tensors: readonly Tensor[]): TransferPlan {
  const seen = new Set<ArrayBuffer>();
  const transfer: ArrayBuffer[] = [];
  const out = new Array<Tensor>(tensors.length);
  for (let i = 0; i < tensors.length; i++) {
    const tensor = tensors[i]!;
    const data = transferableData(tensor.datatype, tensor.data);
    out[i] = data === tensor.data ? tensor : { ...tensor, data };
    const buffer = ownedBuffer(data);
    if (buffer !== undefined && !seen.has(buffer)) {
      seen.add(buffer);
      transfer.push(buffer);
    }
  }
  return { tensors: out, transfer };
}

/** `data` itself when it covers its buffer entirely, otherwise a copy that does. */
export function transferableData(datatype: Datatype, data: TensorData): TensorData {
  if (isBytesData(data)) return coversBuffer(data) ? data : packBytes(data);
  if (isWholeBuffer(data)) return data;
  return copyNumeric(datatype, data);
}

/** The ArrayBuffer `data` covers entirely (what may be transferred), if any. */
function ownedBuffer(data: TensorData): ArrayBuffer | undefined {
  if (isBytesData(data)) {
    return data.length > 0 && coversBuffer(data) ? (data[0]!.buffer as ArrayBuffer) : undefined;
  }
  return isWholeBuffer(data) ? (data.buffer as ArrayBuffer) : undefined;
}

function isWholeBuffer(data: NumericArray): boolean {
  const buffer = data.buffer;
  return buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength;
}

/**
 * True when BYTES elements are back-to-back views that together span one whole ArrayBuffer, as
 * packBytes and the worker's string encoder produce. An empty list owns nothing and needs nothing.
 */
function coversBuffer(items: readonly Uint8Array[]): boolean {
  if (items.length === 0) return true;
  const buffer = items[0]!.buffer;
  if (!(buffer instanceof ArrayBuffer)) return false;
  let offset = 0;
  for (const item of items) {
    if (item.buffer !== buffer || item.byteOffset !== offset) return false;
    offset += item.byteLength;
  }
  return offset === buffer.byteLength;
}

/** Copies BYTES elements into one fresh buffer and returns a view per element. */
export function packBytes(items: readonly Uint8Array[]): Uint8Array[] {
  let total = 0;
  for (const item of items) total += item.byteLength;
  const packed = new Uint8Array(total);
  const views = new Array<Uint8Array>(items.length);
  let offset = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    packed.set(item, offset);
    views[i] = packed.subarray(offset, offset + item.byteLength);
    offset += item.byteLength;
  }
  return views;
}

/**
 * A byte-exact copy in a fresh buffer, typed for `datatype` (a byte view of FP32 data becomes a
 * Float32Array) so the worker receives the array class onnxruntime expects.
 */
function copyNumeric(datatype: Datatype, data: NumericArray): NumericArray {
  const bytes = new Uint8Array(data.byteLength);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (datatype === 'BYTES') return bytes;
  const ArrayType = ARRAY_TYPES[datatype];
  const size = ArrayType.BYTES_PER_ELEMENT;
  return bytes.byteLength % size === 0 ? new ArrayType(bytes.buffer, 0, bytes.byteLength / size) : bytes;
}
