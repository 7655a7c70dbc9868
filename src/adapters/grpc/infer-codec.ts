/**
 * ModelInferRequest → InferenceRequest and InferenceResponse → ModelInferResponse. Inputs may come
 * raw (one raw_input_contents entry per input, viewed without copying where alignment allows) or
 * typed (contents); answers always use raw_output_contents, which is the only place tritonclient
 * and perf_analyzer read outputs from. Structural checks live here; whether the inputs fit the
 * model is the data plane's job.
 */
import {
  byteSize,
  checkInputCount,
  checkOutputCount,
  checkTensorShape,
  decodeBinaryTensorData,
  DEFAULT_REQUEST_LIMITS,
  isBytesData,
  isDatatype,
  mpError,
  writeBinaryTensorData,
  type InferenceRequest,
  type InferenceResponse,
  type Parameters,
  type ParameterValue,
  type RequestedOutput,
  type RequestLimits,
  type Tensor,
  type TensorData,
  TensorBytesBudget,
} from '../../core/index.js';
import type { InferParameterMessage, ModelInferRequestMessage, ModelInferResponseMessage, ParameterMap } from './proto-types.js';
import { decodeTensorContents } from './tensor-contents.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Decodes a ModelInferRequest; counts and sizes are checked against `limits` before anything is allocated for them. */
export function decodeModelInferRequest(message: ModelInferRequestMessage, limits: RequestLimits = DEFAULT_REQUEST_LIMITS): InferenceRequest {
  checkInputCount(message.inputs.length, limits);
  checkOutputCount(message.outputs.length, limits);
  const request: InferenceRequest = { modelName: message.model_name, inputs: [] };
  if (message.model_version !== '') request.modelVersion = message.model_version;
  if (message.id !== '') request.id = message.id;
  const parameters = decodeRequestParameters(message.parameters);
  if (parameters) request.parameters = parameters;

  const raw = message.raw_input_contents;
  const useRaw = raw.length > 0;
  if (useRaw && raw.length !== message.inputs.length) {
    throw mpError(
      'MP_ERR_INPUT_DATA',
      `raw_input_contents has ${raw.length} entries but the request has ${message.inputs.length} inputs; expected one entry per input, in the same order`,
    );
  }
  const budget = new TensorBytesBudget(limits);
  const inputs = new Array<Tensor>(message.inputs.length);
  for (let i = 0; i < message.inputs.length; i++) {
    const input = message.inputs[i]!;
    const name = input.name;
    if (!isDatatype(input.datatype)) {
      throw mpError('MP_ERR_INPUT_DATATYPE', `input '${name}': datatype ${JSON.stringify(input.datatype)} is not a V2 datatype (BOOL, UINT8…UINT64, INT8…INT64, FP16, BF16, FP32, FP64, BYTES)`);
    }
    const datatype = input.datatype;
    const shape = decodeShape(name, input.shape);
    const count = checkTensorShape(name, datatype, shape, limits);
    if (!Number.isSafeInteger(count)) {
      throw mpError('MP_ERR_INPUT_SHAPE', `input '${name}': shape [${shape.join(',')}] has too many elements`);
    }
    if (datatype !== 'BYTES') budget.addElements(name, datatype, count);
    if (input.parameters.shared_memory_region !== undefined) {
      throw mpError('MP_ERR_REQUEST_PARAMETER', `input '${name}' uses 'shared_memory_region', but this server does not support shared memory`);
    }
    let data: TensorData;
    if (useRaw) {
      if (input.contents !== null && hasContents(input.contents)) {
        throw mpError('MP_ERR_INPUT_DATA', `input '${name}' sets contents while the request uses raw_input_contents; use one or the other for all inputs`);
      }
      const bytes = raw[i]!;
      data = decodeBinaryTensorData(name, datatype, shape, count, bytes, 0, bytes.byteLength);
    } else {
      if (input.contents === null) {
        throw mpError('MP_ERR_INPUT_DATA', `input '${name}' has no data: set its contents or send raw_input_contents`);
      }
      data = decodeTensorContents(name, datatype, shape, count, input.contents);
    }
    inputs[i] = { name, datatype, shape, data };
    if (datatype === 'BYTES') budget.addTensor(inputs[i]!);
  }
  request.inputs = inputs;

  if (message.outputs.length > 0) {
    request.outputs = message.outputs.map((output): RequestedOutput => {
      const requested: RequestedOutput = { name: output.name };
      const outputParameters = decodeParameters(output.parameters, `output '${output.name}'`, ['binary_data']);
      if (outputParameters?.shared_memory_region !== undefined) {
        throw mpError('MP_ERR_REQUEST_PARAMETER', `output '${output.name}' uses 'shared_memory_region', but this server does not support shared memory`);
      }
      if (outputParameters) requested.parameters = outputParameters;
      return requested;
    });
  }
  return request;
}

export function encodeModelInferResponse(response: InferenceResponse): ModelInferResponseMessage {
  const message: ModelInferResponseMessage = {
    model_name: response.modelName,
    model_version: response.modelVersion,
    outputs: new Array(response.outputs.length),
    raw_output_contents: new Array(response.outputs.length),
  };
  if (response.id) message.id = response.id;
  // gRPC answers carry the routing arm as a response parameter (REST: the x-modelport-arm header);
  // only when routing is in play, so plain Triton answers stay byte-for-byte what clients expect.
  const parameters = response.arm !== undefined && response.arm !== 'stable' && response.arm !== 'direct' ? { ...response.parameters, modelport_arm: response.arm } : response.parameters;
  if (parameters) message.parameters = encodeParameters(parameters);
  for (let i = 0; i < response.outputs.length; i++) {
    const output = response.outputs[i]!;
    message.outputs[i] = { name: output.name, datatype: output.datatype, shape: output.shape };
    message.raw_output_contents[i] = rawContents(output);
  }
  return message;
}

function rawContents(tensor: Tensor): Uint8Array {
  const data = tensor.data;
  if (!isBytesData(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const buffer = Buffer.allocUnsafe(byteSize(tensor));
  writeBinaryTensorData(data, buffer, 0);
  return buffer;
}

function decodeShape(name: string, dims: readonly string[]): number[] {
  const shape = new Array<number>(dims.length);
  for (let i = 0; i < dims.length; i++) {
    const dim = Number(dims[i]);
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw mpError('MP_ERR_INPUT_SHAPE', `input '${name}': shape dimension ${i} is ${dims[i]}; expected a non-negative integer`);
    }
    shape[i] = dim;
  }
  return shape;
}

function hasContents(contents: NonNullable<ModelInferRequestMessage['inputs'][number]['contents']>): boolean {
  for (const values of Object.values(contents)) if ((values as unknown[]).length > 0) return true;
  return false;
}

/** Request parameters with Triton's reserved keys checked, as the REST adapter checks them. */
function decodeRequestParameters(map: ParameterMap): Parameters | undefined {
  // perf_analyzer and tritonclient streams send triton_enable_empty_final_response; it only
  // matters for decoupled models (several responses per request), which Modelport does not serve.
  const parameters = decodeParameters(map, 'request', ['triton_enable_empty_final_response']);
  if (!parameters) return undefined;
  for (const key of Object.keys(parameters)) {
    if (key.startsWith('triton_')) {
      throw mpError('MP_ERR_REQUEST_PARAMETER', "parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified.");
    }
  }
  return parameters;
}

/** A parameter map to plain values; keys in `ignored` only shape HTTP answers and are dropped. */
function decodeParameters(map: ParameterMap, owner: string, ignored: readonly string[]): Parameters | undefined {
  let parameters: Parameters | undefined;
  for (const key of Object.keys(map)) {
    if (ignored.includes(key)) continue;
    parameters ??= {};
    const value = parameterValue(map[key]!, key, owner);
    if (key === '__proto__') Object.defineProperty(parameters, key, { value, enumerable: true, writable: true, configurable: true });
    else parameters[key] = value;
  }
  return parameters;
}

function parameterValue(parameter: InferParameterMessage, key: string, owner: string): ParameterValue {
  switch (parameter.parameter_choice) {
    case 'bool_param':
      return parameter.bool_param!;
    case 'string_param':
      return parameter.string_param!;
    case 'double_param':
      return parameter.double_param!;
    case 'int64_param':
    case 'uint64_param': {
      const text = String(parameter[parameter.parameter_choice]);
      const number = Number(text);
      return Number.isSafeInteger(number) ? number : BigInt(text);
    }
    default:
      throw mpError('MP_ERR_REQUEST_PARAMETER', `${owner} parameter '${key}' has no value; set one of bool_param, int64_param, string_param, double_param, uint64_param`);
  }
}

function encodeParameters(parameters: Parameters): ParameterMap {
  const map: ParameterMap = {};
  for (const [key, value] of Object.entries(parameters)) {
    switch (typeof value) {
      case 'boolean':
        map[key] = { bool_param: value };
        break;
      case 'string':
        map[key] = { string_param: value };
        break;
      case 'bigint':
        map[key] = value >= INT64_MIN && value <= INT64_MAX ? { int64_param: value.toString() } : { uint64_param: value.toString() };
        break;
      default:
        map[key] = Number.isSafeInteger(value) ? { int64_param: value } : { double_param: value };
    }
  }
  return map;
}
