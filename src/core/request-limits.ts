/**
 * How large one inference request may be, whatever protocol carries it. The body limit alone does
 * not bound what a request costs once decoded: a JSON "0," becomes 8 bytes of FP64, an empty JSON
 * string or a 4-byte BYTES length prefix becomes an object of about 100 bytes, a shape may claim
 * more elements than the body could ever hold, and a list of a hundred thousand requested outputs
 * fits in a megabyte. The adapters check these while decoding, from the shape, before they
 * allocate a tensor; every refusal is MP_ERR_REQUEST_TOO_LARGE (HTTP 413, gRPC RESOURCE_EXHAUSTED)
 * naming the limit, the value and the setting that raises it.
 */
import { ELEMENT_BYTES, type Datatype } from './datatypes.js';
import { mpError } from './errors.js';
import type { Tensor } from './tensor.js';

export interface RequestLimits {
  /** Inputs one request may carry. */
  maxInputs: number;
  /** Outputs one request may name. */
  maxOutputs: number;
  /** Elements of one tensor (the product of its shape); no single dimension may be longer either. */
  maxTensorElements: number;
  /** Elements of one BYTES tensor: each element is an object in memory, not a few bytes. */
  maxStringTensorElements: number;
  /** Bytes of one BYTES element. */
  maxStringElementBytes: number;
  /** Bytes of all inputs of a request once decoded (BYTES elements count 4 + length, as sent raw). */
  maxTensorBytes: number;
}

/**
 * Dimensions of one tensor. Not a setting: ONNX models use a handful, and each dimension costs an
 * object when a gRPC request is decoded.
 */
export const MAX_TENSOR_RANK = 64;

/** Entries of one parameters map (of the request, an input or an output). Not a setting either. */
export const MAX_PARAMETERS = 256;

/** Triton's HTTP_DEFAULT_MAX_INPUT_SIZE: the default body limit, and so the decoded-bytes default. */
const DEFAULT_BODY_BYTES = 64 * 1024 * 1024;

export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = {
  maxInputs: 256,
  maxOutputs: 256,
  maxTensorElements: 16 * 1024 * 1024,
  maxStringTensorElements: 1024 * 1024,
  maxStringElementBytes: 16 * 1024 * 1024,
  maxTensorBytes: DEFAULT_BODY_BYTES,
};

/** The setting (configuration key and flag) behind each limit, for the messages. */
const SETTINGS: Record<keyof RequestLimits, string> = {
  maxInputs: 'maxRequestInputs, --max-request-inputs',
  maxOutputs: 'maxRequestOutputs, --max-request-outputs',
  maxTensorElements: 'maxTensorElements, --max-tensor-elements',
  maxStringTensorElements: 'maxStringTensorElements, --max-string-tensor-elements',
  maxStringElementBytes: 'maxStringElementBytes, --max-string-element-bytes',
  maxTensorBytes: 'maxRequestTensorBytes, --max-request-tensor-bytes',
};

function tooLarge(what: string, limit: keyof RequestLimits, limits: RequestLimits, unit: string) {
  return mpError('MP_ERR_REQUEST_TOO_LARGE', `${what}; the limit is ${limits[limit]} ${unit} (${SETTINGS[limit]})`);
}

/** The number of entries of a parameters map; `owner` is "the request", "input 'x'"… */
export function checkParameterCount(count: number, owner: string): void {
  if (count > MAX_PARAMETERS) throw mpError('MP_ERR_REQUEST_TOO_LARGE', `${owner} has ${count} parameters; the limit is ${MAX_PARAMETERS}`);
}

/** The number of inputs, before any is decoded. */
export function checkInputCount(count: number, limits: RequestLimits): void {
  if (count > limits.maxInputs) throw tooLarge(`the request has ${count} inputs`, 'maxInputs', limits, 'inputs per request');
}

/** The number of requested outputs, before any is decoded. */
export function checkOutputCount(count: number, limits: RequestLimits): void {
  if (count > limits.maxOutputs) throw tooLarge(`the request names ${count} outputs`, 'maxOutputs', limits, 'outputs per request');
}

/**
 * Checks an input's shape before its data is read, and returns its element count. Dimensions are
 * already non-negative safe integers; each is bounded on its own, so a shape with a zero cannot
 * smuggle in a dimension no tensor could have.
 */
export function checkTensorShape(name: string, datatype: Datatype, shape: readonly number[], limits: RequestLimits): number {
  if (shape.length > MAX_TENSOR_RANK) {
    throw mpError('MP_ERR_REQUEST_TOO_LARGE', `input '${name}' has a shape of ${shape.length} dimensions; the limit is ${MAX_TENSOR_RANK}`);
  }
  const limit: keyof RequestLimits = datatype === 'BYTES' ? 'maxStringTensorElements' : 'maxTensorElements';
  const unit = datatype === 'BYTES' ? 'elements per BYTES tensor' : 'elements per tensor';
  let count = 1;
  for (const dim of shape) {
    if (dim > limits[limit]) throw tooLarge(`input '${name}' has a dimension of ${dim} (shape [${shape.join(',')}])`, limit, limits, unit);
    count *= dim;
  }
  if (count > limits[limit]) throw tooLarge(`input '${name}' has ${count} elements (shape [${shape.join(',')}])`, limit, limits, unit);
  return count;
}

/**
 * Adds up a request's inputs as they are decoded and throws once their bytes pass maxTensorBytes,
 * or a BYTES element is longer than maxStringElementBytes. Each input is added once: a fixed-size
 * one from its shape with addElements, before its typed array is allocated; a BYTES one with
 * addTensor, once decoded (its size is only known then).
 */
export class TensorBytesBudget {
  #total = 0;

  constructor(private readonly limits: RequestLimits) {}

  /** A fixed-size input about to be allocated: `count` elements of `datatype`. */
  addElements(name: string, datatype: Exclude<Datatype, 'BYTES'>, count: number): void {
    this.#charge(name, count * ELEMENT_BYTES[datatype]);
  }

  /** A decoded input (any datatype); BYTES elements are checked one by one. */
  addTensor(tensor: Tensor): void {
    const data = tensor.data;
    if (!Array.isArray(data)) {
      this.#charge(tensor.name, data.byteLength);
      return;
    }
    let bytes = 0;
    for (let i = 0; i < data.length; i++) {
      const length = data[i]!.byteLength;
      if (length > this.limits.maxStringElementBytes) {
        throw tooLarge(`element ${i} of BYTES input '${tensor.name}' is ${length} bytes`, 'maxStringElementBytes', this.limits, 'bytes per BYTES element');
      }
      bytes += 4 + length;
    }
    this.#charge(tensor.name, bytes);
  }

  #charge(name: string, bytes: number): void {
    this.#total += bytes;
    if (this.#total > this.limits.maxTensorBytes) {
      throw tooLarge(`the inputs take ${this.#total} bytes once decoded (up to and including '${name}')`, 'maxTensorBytes', this.limits, 'bytes per request');
    }
  }
}
