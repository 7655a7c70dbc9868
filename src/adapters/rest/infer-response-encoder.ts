/**
 * Turns an InferenceResponse into the bytes of a V2 HTTP answer. The JSON is written by hand, not
 * with JSON.stringify: keys must come in Triton's order, INT64/UINT64 values must print as plain
 * digits (JSON.stringify throws on BigInt), and large numeric arrays print fastest through typed
 * arrays' own join. Outputs the client asked for in binary go after the JSON header in one buffer.
 */
import { byteSize, writeBinaryTensorData, type InferenceResponse, type ParameterValue, type Tensor } from '../../core/index.js';

import type { DecodedInferRequest } from './infer-request-decoder.js';
import { encodeJsonTensorData } from './json-tensor-codec.js';

export interface EncodedInferResponse {
  body: Buffer;
  /** Byte length of the JSON header when any output is binary; undefined for a pure JSON body. */
  headerLength: number | undefined;
}

/** What the encoder needs to know about the request: which outputs the client wants binary. */
export type OutputEncoding = Pick<DecodedInferRequest, 'binaryOutputs' | 'binaryByDefault'> & {
  request: Pick<DecodedInferRequest['request'], 'id' | 'outputs'>;
};

export function encodeInferResponse(response: InferenceResponse, encoding: OutputEncoding): EncodedInferResponse {
  const id = response.id ?? encoding.request.id;
  let json = id ? `{"id":${JSON.stringify(id)},` : '{';
  json += `"model_name":${JSON.stringify(response.modelName)},"model_version":${JSON.stringify(response.modelVersion)}`;
  if (response.parameters !== undefined) {
    const parameters = encodeParameters(response.parameters);
    if (parameters !== '{}') json += `,"parameters":${parameters}`;
  }
  json += ',"outputs":[';

  const outputs = response.outputs;
  let binary: Tensor[] | undefined;
  let binaryBytes = 0;
  for (let i = 0; i < outputs.length; i++) {
    const output = outputs[i]!;
    if (i > 0) json += ',';
    json += `{"name":${JSON.stringify(output.name)},"datatype":"${output.datatype}","shape":[${output.shape.join(',')}]`;
    if (isBinary(output, encoding)) {
      const size = byteSize(output);
      json += `,"parameters":{"binary_data_size":${size}}}`;
      (binary ??= []).push(output);
      binaryBytes += size;
    } else {
      json += `,"data":${encodeJsonTensorData(output.datatype, output.data)}}`;
    }
  }
  json += ']}';

  if (binary === undefined) return { body: Buffer.from(json, 'utf8'), headerLength: undefined };
  const headerLength = Buffer.byteLength(json, 'utf8');
  const body = Buffer.allocUnsafe(headerLength + binaryBytes);
  let offset = body.write(json, 0, 'utf8');
  for (const output of binary) offset = writeBinaryTensorData(output.data, body, offset);
  return { body, headerLength };
}

/**
 * Triton's rule (http_server.cc): a listed output is binary only if it says `binary_data: true`;
 * unlisted outputs follow `binary_data_output`. FP16/BF16 have no JSON form, so they are always
 * binary rather than an error.
 */
function isBinary(output: Tensor, encoding: OutputEncoding): boolean {
  if (output.datatype === 'FP16' || output.datatype === 'BF16') return true;
  const requested = encoding.request.outputs;
  if (requested !== undefined) {
    for (let i = 0; i < requested.length; i++) {
      if (requested[i]!.name === output.name) return encoding.binaryOutputs[i] ?? false;
    }
  }
  return encoding.binaryByDefault;
}

function encodeParameters(parameters: Record<string, ParameterValue>): string {
  const parts: string[] = [];
  for (const key of Object.keys(parameters)) {
    const value = parameters[key];
    if (value === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${typeof value === 'bigint' ? String(value) : JSON.stringify(value)}`);
  }
  return `{${parts.join(',')}}`;
}
