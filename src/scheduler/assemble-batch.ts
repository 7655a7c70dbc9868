/**
 * Turning several requests into one batch and the batch's outputs back into per-request results:
 * the shape key that decides which requests may share a batch, concatenation of inputs along the
 * batch dimension into one new typed array per input (the runtime may transfer it to its worker),
 * and splitting of outputs along the batch dimension into views that share the runtime's buffers
 * instead of copying them.
 */
import {
  ARRAY_TYPES,
  elementCount,
  isBytesData,
  mpError,
  type NumericArray,
  type Tensor,
  type TensorData,
} from '../core/index.js';

/**
 * Requests may share a batch exactly when their keys are equal: same input names in the same
 * order (optional inputs may be absent), same datatypes and same dimensions after the batch one.
 */
export function batchShapeKey(inputs: readonly Tensor[]): string {
  let key = '';
  for (const input of inputs) {
    // Names are the model's own input names, which hold no NUL, so the fields of a key cannot run together.
    key += input.name + '\u0000' + input.datatype;
    const shape = input.shape;
    for (let d = 1; d < shape.length; d++) key += ',' + shape[d];
    key += '\u0000';
  }
  return key;
}

/**
 * Concatenates each input of several requests (all with the same shape key) along dim 0.
 * `batches[i]` holds request i's inputs; `total` is the sum of their dim 0.
 */
export function assembleBatch(batches: readonly (readonly Tensor[])[], total: number): Tensor[] {
  const first = batches[0]!;
  const inputs: Tensor[] = new Array(first.length);
  for (let j = 0; j < first.length; j++) {
    const model = first[j]!;
    const shape = model.shape.slice();
    shape[0] = total;
    let length = 0;
    for (const request of batches) length += request[j]!.data.length;
    let data: TensorData;
    if (model.datatype === 'BYTES') {
      const items: Uint8Array[] = new Array(length);
      let offset = 0;
      for (const request of batches) {
        const part = request[j]!.data as Uint8Array[];
        for (let k = 0; k < part.length; k++) items[offset++] = part[k]!;
      }
      data = items;
    } else {
      // Typed arrays of one datatype share a constructor; the cast only silences the union.
      const joined = new ARRAY_TYPES[model.datatype](length) as Float32Array;
      let offset = 0;
      for (const request of batches) {
        const part = request[j]!.data as Float32Array;
        joined.set(part, offset);
        offset += part.length;
      }
      data = joined as NumericArray;
    }
    inputs[j] = { name: model.name, datatype: model.datatype, shape, data };
  }
  return inputs;
}

/**
 * Checks that every output of a batch has `total` rows and as many elements as its shape says.
 * A runtime that answers otherwise cannot be split safely, so the whole batch fails.
 */
export function checkBatchOutputs(outputs: readonly Tensor[], total: number, model: string): void {
  for (const output of outputs) {
    if (output.shape.length === 0 || output.shape[0] !== total) {
      throw mpError(
        'MP_ERR_RUNTIME_FAILED',
        `model '${model}' returned output '${output.name}' with shape [${output.shape.join(',')}] for a batch of ` +
          `${total}; expected the first dimension to be the batch size ${total}`,
      );
    }
    const expected = elementCount(output.shape);
    if (output.data.length !== expected) {
      throw mpError(
        'MP_ERR_RUNTIME_FAILED',
        `model '${model}' returned output '${output.name}' with ${output.data.length} elements for shape ` +
          `[${output.shape.join(',')}]; expected ${expected}`,
      );
    }
  }
}

/**
 * Splits batch outputs (already checked with checkBatchOutputs) into one list per request, in the
 * order of `sizes` (each request's dim 0). Numeric data becomes subarray views of the batch's
 * buffers; BYTES elements are shared by reference.
 */
export function splitBatch(outputs: readonly Tensor[], sizes: readonly number[], total: number): Tensor[][] {
  const parts: Tensor[][] = new Array(sizes.length);
  for (let i = 0; i < sizes.length; i++) parts[i] = new Array(outputs.length);
  for (let k = 0; k < outputs.length; k++) {
    const output = outputs[k]!;
    const data = output.data;
    const stride = total === 0 ? 0 : data.length / total;
    const bytes = isBytesData(data);
    let row = 0;
    for (let i = 0; i < sizes.length; i++) {
      const rows = sizes[i]!;
      const start = row * stride;
      const end = start + rows * stride;
      const shape = output.shape.slice();
      shape[0] = rows;
      parts[i]![k] = {
        name: output.name,
        datatype: output.datatype,
        shape,
        data: bytes ? data.slice(start, end) : ((data as Float32Array).subarray(start, end) as NumericArray),
      };
      row += rows;
    }
  }
  return parts;
}
