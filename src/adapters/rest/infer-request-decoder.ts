/**
 * Turns the body of a V2 infer request (JSON, or JSON header + binary section as the binary tensor
 * data extension lays it out) into a protocol-neutral InferenceRequest, plus what the response
 * encoder needs to answer in the form the client asked for. Structural checks and Triton's
 * reserved parameters are handled here; whether the inputs fit the model is the data plane's job.
 */
import {
  checkInputCount,
  checkOutputCount,
  checkParameterCount,
  checkTensorShape,
  decodeBinaryTensorData,
  DEFAULT_REQUEST_LIMITS,
  isDatatype,
  mpError,
  TensorBytesBudget,
  type InferenceRequest,
  type Parameters,
  type ParameterValue,
  type RequestedOutput,
  type RequestLimits,
  type Tensor,
  type TensorData,
} from '../../core/index.js';

import { describeJson } from './describe-json.js';
import { decodeJsonTensorData } from './json-tensor-codec.js';
import { parseJsonText } from './parse-json-text.js';

export interface DecodedInferRequest {
  request: InferenceRequest;
  /** Per entry of `request.outputs`: send that output binary. */
  binaryOutputs: boolean[];
  /** Encoding of outputs the request does not list (`binary_data_output`). */
  binaryByDefault: boolean;
}

type JsonObject = Record<string, unknown>;

const UINT64_MAX = 2n ** 64n - 1n;

/**
 * Reads `Inference-Header-Content-Length`. Undefined when the header is absent (the whole body is
 * JSON); 0 asks for a raw binary request.
 */
export function parseHeaderLength(text: string | undefined, bodyLength: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value > bodyLength) {
    throw mpError('MP_ERR_REQUEST_MALFORMED', `Inference-Header-Content-Length should be in range [0, ${bodyLength}], got: ${text}`);
  }
  return value;
}

/**
 * Decodes an infer body. `headerLength` comes from parseHeaderLength and must not be 0 here
 * (raw binary requests need the model's metadata: raw-infer-request.ts). Counts and sizes are
 * checked against `limits` before anything is allocated for them.
 */
export function decodeInferRequest(
  body: Uint8Array,
  headerLength: number | undefined,
  modelName: string,
  modelVersion: string | undefined,
  limits: RequestLimits = DEFAULT_REQUEST_LIMITS,
): DecodedInferRequest {
  const jsonLength = headerLength ?? body.byteLength;
  const text = Buffer.from(body.buffer, body.byteOffset, jsonLength).toString('utf8');
  const json = parseJsonText(text);
  if (!isObject(json)) throw malformed('the inference request must be a JSON object');

  const request: InferenceRequest = { modelName, inputs: [] };
  if (modelVersion !== undefined) request.modelVersion = modelVersion;
  if (json.id !== undefined) {
    if (typeof json.id !== 'string') throw malformed(`unable to parse 'id': expected a string, got ${typeName(json.id)}`);
    if (json.id !== '') request.id = json.id;
  }

  let binaryByDefault = false;
  if (json.parameters !== undefined) {
    const decoded = decodeRequestParameters(json.parameters);
    binaryByDefault = decoded.binaryByDefault;
    if (decoded.parameters) request.parameters = decoded.parameters;
  }

  if (Array.isArray(json.outputs)) checkOutputCount(json.outputs.length, limits);
  request.inputs = decodeInputs(json.inputs, body, jsonLength, headerLength !== undefined, modelName, limits);

  const binaryOutputs: boolean[] = [];
  if (json.outputs !== undefined) {
    request.outputs = decodeOutputs(json.outputs, binaryOutputs);
  }
  return { request, binaryOutputs, binaryByDefault };
}

function decodeInputs(value: unknown, body: Uint8Array, jsonLength: number, hasBinarySection: boolean, modelName: string, limits: RequestLimits): Tensor[] {
  if (!Array.isArray(value)) throw malformed(`unable to parse 'inputs': expected an array, got ${typeName(value)}`);
  checkInputCount(value.length, limits);
  const budget = new TensorBytesBudget(limits);
  const inputs = new Array<Tensor>(value.length);
  let offset = jsonLength;
  for (let i = 0; i < value.length; i++) {
    const input = value[i] as unknown;
    if (!isObject(input)) throw malformed(`unable to parse 'inputs': element ${i} is not an object`);
    const name = input.name;
    if (typeof name !== 'string') throw malformed(`unable to parse 'name' of input ${i}: expected a string`);
    const datatype = input.datatype;
    if (!isDatatype(datatype)) {
      throw mpError('MP_ERR_INPUT_DATATYPE', `unable to parse 'datatype' for input '${name}': ${describeJson(datatype ?? null)} is not a V2 datatype`);
    }
    const shape = decodeShape(name, input.shape);
    const count = checkTensorShape(name, datatype, shape, limits);
    if (!Number.isSafeInteger(count)) {
      throw mpError('MP_ERR_INPUT_SHAPE', `unable to parse 'shape' for input '${name}': [${shape.join(',')}] has too many elements`);
    }
    if (datatype !== 'BYTES') budget.addElements(name, datatype, count);

    const parameters = input.parameters;
    if (parameters !== undefined && !isObject(parameters)) {
      throw malformed(`unable to parse 'parameters' for input '${name}': expected an object`);
    }
    if (parameters !== undefined) checkParameterCount(Object.keys(parameters).length, `input '${name}'`);
    const binarySize = parameters?.binary_data_size;
    checkContentFields('data' in input, binarySize !== undefined, parameters?.shared_memory_region !== undefined, name);

    let data: TensorData;
    if (binarySize === undefined) {
      data = decodeJsonTensorData(name, datatype, shape, count, input.data);
    } else {
      const size = typeof binarySize === 'bigint' ? Number(binarySize) : binarySize;
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw malformed(`unable to parse 'binary_data_size' for input '${name}': expected a non-negative integer, got ${typeName(binarySize)}`);
      }
      if (!hasBinarySection && size > 0) {
        throw malformed(
          "must specify valid 'Inference-Header-Content-Length' in request header and 'binary_data_size' when passing inputs in binary data format",
        );
      }
      const remaining = body.byteLength - offset;
      if (size > remaining) {
        throw mpError(
          'MP_ERR_INPUT_DATA',
          `unexpected size for input '${name}', expecting ${size - remaining} additional bytes for model '${modelName}'`,
        );
      }
      data = decodeBinaryTensorData(name, datatype, shape, count, body, offset, size);
      offset += size;
    }
    inputs[i] = { name, datatype, shape, data };
    if (datatype === 'BYTES') budget.addTensor(inputs[i]!);
  }
  if (offset !== body.byteLength) {
    throw mpError('MP_ERR_INPUT_DATA', `unexpected additional input data for model '${modelName}'`);
  }
  return inputs;
}

/** Triton's ValidateInputContentType, word for word, plus a clear refusal of shared memory. */
function checkContentFields(hasData: boolean, hasBinary: boolean, hasSharedMemory: boolean, name: string): void {
  const set = Number(hasData) + Number(hasBinary) + Number(hasSharedMemory);
  if (set !== 1) {
    let message =
      "Input must set only one of the following fields: 'data', 'binary_data_size' in 'parameters', 'shared_memory_region' in 'parameters'. But";
    if (set === 0) message += ' no field is set';
    else {
      message += ' set';
      if (hasData) message += " 'data'";
      if (hasBinary) message += " 'binary_data_size'";
      if (hasSharedMemory) message += " 'shared_memory_region'";
    }
    throw malformed(`${message} for input '${name}'`);
  }
  if (hasSharedMemory) {
    throw mpError('MP_ERR_REQUEST_PARAMETER', `input '${name}' uses 'shared_memory_region', but this server does not support shared memory`);
  }
}

function decodeShape(name: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw mpError('MP_ERR_INPUT_SHAPE', `unable to parse 'shape' for input '${name}': expected an array of non-negative integers`);
  const shape = new Array<number>(value.length);
  for (let i = 0; i < value.length; i++) {
    const dim = value[i] as unknown;
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw mpError(
        'MP_ERR_INPUT_SHAPE',
        `unable to parse 'shape' for input '${name}': ${describeJson(dim)} is not a non-negative integer`,
      );
    }
    shape[i] = dim;
  }
  return shape;
}

function decodeOutputs(value: unknown, binaryOutputs: boolean[]): RequestedOutput[] {
  if (!Array.isArray(value)) throw malformed(`unable to parse 'outputs': expected an array, got ${typeName(value)}`);
  const outputs = new Array<RequestedOutput>(value.length);
  for (let i = 0; i < value.length; i++) {
    const output = value[i] as unknown;
    if (!isObject(output)) throw malformed(`unable to parse 'outputs': element ${i} is not an object`);
    const name = output.name;
    if (typeof name !== 'string') throw malformed(`unable to parse 'name' of output ${i}: expected a string`);
    const requested: RequestedOutput = { name };
    let binary = false;
    const parameters = output.parameters;
    if (parameters !== undefined) {
      if (!isObject(parameters)) throw malformed(`unable to parse 'parameters' for output '${name}': expected an object`);
      let passed: Parameters | undefined;
      const keys = Object.keys(parameters);
      checkParameterCount(keys.length, `output '${name}'`);
      for (const key of keys) {
        const item = parameters[key];
        if (key === 'binary_data') {
          if (typeof item !== 'boolean') throw parameterError(`unable to parse 'binary_data' for output '${name}': expected a boolean`);
          binary = item;
        } else if (key === 'shared_memory_region') {
          throw parameterError(`output '${name}' uses 'shared_memory_region', but this server does not support shared memory`);
        } else {
          passed ??= {};
          setParameter(passed, key, checkParameterValue(key, item));
        }
      }
      if (passed) requested.parameters = passed;
    }
    outputs[i] = requested;
    binaryOutputs.push(binary);
  }
  return outputs;
}

interface RequestParameters {
  parameters: Parameters | undefined;
  binaryByDefault: boolean;
}

/**
 * Triton's reserved request parameters are checked for type (its messages); `binary_data_output`
 * only shapes the HTTP answer and stays here; everything else travels on to the data plane.
 */
function decodeRequestParameters(value: unknown): RequestParameters {
  if (!isObject(value)) throw malformed("unable to parse 'parameters': expected an object");
  let parameters: Parameters | undefined;
  let binaryByDefault = false;
  const keys = Object.keys(value);
  checkParameterCount(keys.length, 'the request');
  for (const key of keys) {
    const item = value[key];
    switch (key) {
      case 'binary_data_output':
        if (typeof item !== 'boolean') throw parameterError("Unable to parse 'binary_data_output': expected a boolean");
        binaryByDefault = item;
        continue;
      case 'priority':
      case 'timeout':
        unsignedParameter(key, item);
        break;
      case 'sequence_id':
        if (typeof item !== 'string') unsignedParameter(key, item);
        break;
      case 'sequence_start':
      case 'sequence_end':
        if (typeof item !== 'boolean') throw parameterError(`Unable to parse '${key}': expected a boolean`);
        break;
      default:
        if (key.startsWith('triton_')) {
          throw parameterError("parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified.");
        }
    }
    parameters ??= {};
    setParameter(parameters, key, checkParameterValue(key, item));
  }
  return { parameters, binaryByDefault };
}

/** A uint64 parameter; returned as a number (precision beyond 2^53 does not matter for these). */
function unsignedParameter(key: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'bigint' && value >= 0n && value <= UINT64_MAX) return Number(value);
  throw parameterError(`Unable to parse '${key}': expected an unsigned integer, got ${typeName(value)}`);
}

function checkParameterValue(key: string, value: unknown): ParameterValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value;
      break;
  }
  throw parameterError(`parameter '${key}' has invalid type. It should be either 'int', 'float', 'bool', or 'string'.`);
}

/** A key named "__proto__" must become a plain property, not the object's prototype. */
function setParameter(target: Parameters, key: string, value: ParameterValue): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return describeJson(value);
}

function malformed(message: string) {
  return mpError('MP_ERR_REQUEST_MALFORMED', message);
}

function parameterError(message: string) {
  return mpError('MP_ERR_REQUEST_PARAMETER', message);
}
