/**
 * The models the benchmark drives and the bytes it sends them: the same seeded input for every
 * measurement (in-process and over HTTP), encoded as a V2 binary-tensor request (JSON header plus
 * raw little-endian floats, Inference-Header-Content-Length) or as a pure JSON request. It also
 * decodes answers, to check that Modelport computes what onnxruntime computes in-process, and can
 * encode an answer itself so the HTTP baseline still runs when no Modelport answer was captured.
 */
import { join } from 'node:path';

export interface BenchModel {
  name: string;
  inputName: string;
  outputName: string;
  /** Input shape without the batch dimension. */
  featureShape: number[];
  /** Output shape without the batch dimension. */
  outputShape: number[];
  /** As in the model's config in examples/models. */
  maxBatchSize: number;
}

export type Encoding = 'binary' | 'json';

export const BENCH_MODELS: BenchModel[] = [
  { name: 'mlp', inputName: 'input', outputName: 'output', featureShape: [256], outputShape: [10], maxBatchSize: 128 },
  { name: 'text_direction', inputName: 'x', outputName: 'softmax_0.tmp_0', featureShape: [3, 48, 192], outputShape: [2], maxBatchSize: 64 },
];

export function modelFile(repository: string, model: BenchModel): string {
  return join(repository, model.name, '1', 'model.onnx');
}

export function featureCount(model: BenchModel): number {
  return model.featureShape.reduce((a, b) => a * b, 1);
}

/** Seeded uniform values in [-1, 1): the same input in every run, so runs compare. */
export function inputData(model: BenchModel, batch: number, seed = 42): Float32Array {
  const data = new Float32Array(batch * featureCount(model));
  let state = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return data;
}

export interface HttpPayload {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export function inferPath(model: BenchModel): string {
  return `/v2/models/${model.name}/infer`;
}

/** A batch-`batch` request in the given encoding; binary requests ask for binary outputs too. */
export function inferRequest(model: BenchModel, encoding: Encoding, data: Float32Array, batch: number): HttpPayload {
  const shape = [batch, ...model.featureShape];
  if (encoding === 'json') {
    // Each float32 printed as the double it widens to (up to 17 digits), which is what clients
    // that serialise float32 arrays through doubles (Python's json, JavaScript) send.
    const values = Array.from(data, (v) => String(v)).join(',');
    const json = `{"inputs":[{"name":${JSON.stringify(model.inputName)},"datatype":"FP32","shape":[${shape.join(',')}],"data":[${values}]}]}`;
    return { path: inferPath(model), headers: { 'Content-Type': 'application/json' }, body: Buffer.from(json, 'utf8') };
  }
  const header = JSON.stringify({
    inputs: [{ name: model.inputName, datatype: 'FP32', shape, parameters: { binary_data_size: data.byteLength } }],
    outputs: [{ name: model.outputName, parameters: { binary_data: true } }],
  });
  const head = Buffer.from(header, 'utf8');
  return {
    path: inferPath(model),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(head.length) },
    body: Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
  };
}

export interface HttpAnswer {
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The answer Modelport gives (same JSON key order, binary output after the header), used as the
 * baseline's canned answer only when Modelport could not be asked.
 */
export function encodeAnswer(model: BenchModel, encoding: Encoding, output: Float32Array, batch: number): HttpAnswer {
  const shape = [batch, ...model.outputShape].join(',');
  const prefix = `{"model_name":${JSON.stringify(model.name)},"model_version":"1","outputs":[{"name":${JSON.stringify(model.outputName)},"datatype":"FP32","shape":[${shape}]`;
  if (encoding === 'json') {
    return { headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(`${prefix},"data":[${output.join(',')}]}]}`, 'utf8') };
  }
  const head = Buffer.from(`${prefix},"parameters":{"binary_data_size":${output.byteLength}}}]}`, 'utf8');
  return {
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) },
    body: Buffer.concat([head, Buffer.from(output.buffer, output.byteOffset, output.byteLength)]),
  };
}

/** The named output of a V2 answer, binary or JSON. */
export function decodeAnswer(answer: HttpAnswer, outputName: string): Float32Array {
  const headerLength = answer.headers['inference-header-content-length'];
  const jsonEnd = headerLength === undefined ? answer.body.length : Number(headerLength);
  const parsed = JSON.parse(answer.body.toString('utf8', 0, jsonEnd)) as {
    outputs?: Array<{ name: string; data?: number[]; parameters?: { binary_data_size?: number } }>;
  };
  let offset = jsonEnd;
  for (const output of parsed.outputs ?? []) {
    const size = output.parameters?.binary_data_size;
    if (output.name === outputName) {
      if (size !== undefined) return new Float32Array(answer.body.buffer.slice(answer.body.byteOffset + offset, answer.body.byteOffset + offset + size));
      return Float32Array.from(output.data ?? []);
    }
    if (size !== undefined) offset += size;
  }
  throw new Error(`answer has no output '${outputName}': ${answer.body.toString('utf8', 0, Math.min(200, jsonEnd))}`);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
