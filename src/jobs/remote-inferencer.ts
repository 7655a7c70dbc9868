/**
 * A BatchInferencer over HTTP to a running V2 server (Modelport or Triton): metadata and config
 * once, then one POST per batch with the binary tensor data extension (a JSON header, then each
 * input's raw little-endian bytes; `Inference-Header-Content-Length` says where the JSON ends),
 * outputs asked for in binary too, so no number is ever printed or parsed as text. The global
 * fetch (undici) keeps connections alive between requests.
 *
 * Failures come back as ModelportErrors whose kind says what the engine should do: UNAVAILABLE
 * and DEADLINE_EXCEEDED (unreachable server, 503, 429, timeouts) are worth a retry, INVALID_ARG
 * and INTERNAL concern the rows sent, NOT_FOUND and the unknown-model answer end the job.
 *
 * Every request carries the `modelport_offline` parameter: a Modelport server queues it after its
 * online traffic (core's OFFLINE_PRIORITY); other V2 servers ignore a parameter they do not use.
 */
import {
  ARRAY_TYPES,
  byteSize,
  decodeBinaryTensorData,
  elementCount,
  isDatatype,
  mpError,
  OFFLINE_PARAMETER,
  writeBinaryTensorData,
  type Datatype,
  type ErrorCode,
  type ModelportError,
  type Tensor,
  type TensorData,
} from '../core/index.js';
import type { BatchInferencer } from './batch-types.js';
import { highestVersion, type DescribedModel } from './inprocess-inferencer.js';

export interface RemoteInferencerOptions {
  /** Server base URL, e.g. http://127.0.0.1:8000. */
  url: string;
  model: string;
  /** Version number or alias; default: the version the server's routing calls stable, else its highest READY one. */
  version?: string;
  /** Per request (default 10 minutes: a large batch of a slow model may take a while). */
  timeoutMs?: number;
  /** API key or JWT sent as a bearer token. */
  token?: string;
}

interface TensorMetadataJson {
  name: string;
  datatype: string;
  shape: number[];
}

interface ModelMetadataJson {
  name: string;
  versions?: string[];
  inputs: TensorMetadataJson[];
  outputs: TensorMetadataJson[];
}

interface ModelConfigJson {
  max_batch_size?: number;
  instance_group?: Array<{ count?: number }>;
}

interface VersionViewJson {
  version: number;
  digest?: string;
  state?: string;
  arms?: string[];
}

interface InferResponseJson {
  model_version?: string;
  outputs?: Array<{ name: string; datatype: string; shape: number[]; data?: unknown; parameters?: { binary_data_size?: number } }>;
}


export class RemoteInferencer implements BatchInferencer {
  readonly #base: string;
  readonly #options: RemoteInferencerOptions;
  #inferPath: string | undefined;
  /** The request's JSON header up to the inputs, which is the same for every batch. */
  #outputsJson = '';

  constructor(options: RemoteInferencerOptions) {
    this.#options = options;
    this.#base = options.url.endsWith('/') ? options.url : `${options.url}/`;
  }

  async describe(): Promise<DescribedModel> {
    const { model } = this.#options;
    const registry = await this.#versionViews();
    let version = this.#options.version;
    if (version === undefined) {
      // With release routing, the highest READY version may be a canary: run on what serves.
      const stable = registry?.find((v) => v.arms?.includes('stable') && (v.state === undefined || v.state === 'READY'));
      if (stable !== undefined) version = String(stable.version);
    }
    let metadata = await this.#json<ModelMetadataJson>(modelPath(model, version));
    if (version === undefined) {
      version = highestVersion(metadata.versions ?? []);
      if (version === undefined) throw mpError('MP_ERR_MODEL_NOT_READY', `model '${model}' has no READY version on ${this.#base}`);
      metadata = await this.#json<ModelMetadataJson>(modelPath(model, version));
    } else {
      // An alias resolves to a number: pin the number, so the whole job runs on one version.
      version = metadata.versions?.length === 1 ? metadata.versions[0]! : version;
    }
    const config = await this.#json<ModelConfigJson>(`${modelPath(model, version)}/config`);
    this.#inferPath = `${modelPath(model, version)}/infer`;
    this.#outputsJson = JSON.stringify(metadata.outputs.map(({ name }) => ({ name, parameters: { binary_data: true } })));
    const instances = (config.instance_group ?? []).reduce((sum, group) => sum + (group.count ?? 1), 0);
    const described: DescribedModel = {
      name: model,
      version,
      inputs: metadata.inputs.map(tensorSpec),
      outputs: metadata.outputs.map(tensorSpec),
      maxBatchSize: config.max_batch_size ?? 0,
      instances: Math.max(1, instances),
    };
    const digest = registry?.find((v) => String(v.version) === version)?.digest;
    if (typeof digest === 'string') described.digest = digest;
    return described;
  }

  async infer(inputs: Tensor[]): Promise<Tensor[]> {
    if (this.#inferPath === undefined) await this.describe();
    let header = '{"inputs":[';
    let rawBytes = 0;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      const size = byteSize(input);
      rawBytes += size;
      if (i > 0) header += ',';
      header += `{"name":${JSON.stringify(input.name)},"datatype":"${input.datatype}","shape":[${input.shape.join(',')}],"parameters":{"binary_data_size":${size}}}`;
    }
    header += `],"outputs":${this.#outputsJson},"parameters":{"${OFFLINE_PARAMETER}":true}}`;
    const headerLength = Buffer.byteLength(header, 'utf8');
    const body = Buffer.allocUnsafe(headerLength + rawBytes);
    let offset = body.write(header, 0, 'utf8');
    for (const input of inputs) offset = writeBinaryTensorData(input.data, body, offset);
    const response = await this.#fetch('POST', this.#inferPath!, body, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(headerLength),
    });
    return decodeResponse(Buffer.from(await response.arrayBuffer()), response.headers.get('inference-header-content-length'));
  }

  /** The registry's view of the model's versions (digests, routing arms); undefined when the server has no registry. */
  async #versionViews(): Promise<VersionViewJson[] | undefined> {
    try {
      const response = await fetch(new URL(`v1/models/${encodeURIComponent(this.#options.model)}/versions`, this.#base), {
        headers: this.#auth(),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) {
        await response.body?.cancel();
        return undefined;
      }
      const json = (await response.json()) as unknown;
      return Array.isArray(json) ? (json as VersionViewJson[]) : undefined;
    } catch {
      // Not a Modelport server, or no registry: versions are then taken from the V2 metadata alone.
      return undefined;
    }
  }

  #auth(): Record<string, string> {
    return this.#options.token ? { authorization: `Bearer ${this.#options.token}` } : {};
  }

  async #json<T>(path: string): Promise<T> {
    const response = await this.#fetch('GET', path);
    return (await response.json()) as T;
  }

  async #fetch(method: 'GET' | 'POST', path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    const url = new URL(path, this.#base);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        // Responses are raw floats: compressing them costs the server CPU for little gain.
        headers: { ...headers, ...this.#auth(), 'accept-encoding': 'identity' },
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 600_000),
      });
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw mpError('MP_ERR_REQUEST_TIMEOUT', `${method} ${url.pathname} got no answer within ${this.#options.timeoutMs ?? 600_000} ms`, error);
      }
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw mpError('MP_ERR_MODEL_NOT_READY', `cannot reach ${url.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`, error);
    }
    if (!response.ok) throw await httpError(method, url, response);
    return response;
  }
}

/** The server's `{"error": ...}` answer as a ModelportError of the kind its status stands for. */
async function httpError(method: string, url: URL, response: Response): Promise<ModelportError> {
  const text = await response.text().catch(() => '');
  let message = text;
  try {
    message = (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    // not JSON: keep the text as it is
  }
  message ||= response.statusText;
  let code: ErrorCode;
  switch (response.status) {
    case 400:
      // Triton's own wording for a model it does not have; anything else is about the request.
      code = /unknown model/i.test(message) ? 'MP_ERR_MODEL_UNKNOWN' : 'MP_ERR_INPUT_DATA';
      break;
    case 413:
      code = 'MP_ERR_REQUEST_TOO_LARGE';
      break;
    case 404:
      code = 'MP_ERR_MODEL_VERSION_UNKNOWN';
      break;
    case 408:
    case 504:
      code = 'MP_ERR_REQUEST_TIMEOUT';
      break;
    case 429:
    case 502:
    case 503:
      code = 'MP_ERR_MODEL_NOT_READY';
      break;
    case 500:
      code = 'MP_ERR_RUNTIME_FAILED';
      break;
    default:
      code = response.status >= 500 ? 'MP_ERR_INTERNAL' : 'MP_ERR_JOB_STATE';
  }
  return mpError(code, `${method} ${url.pathname} failed with HTTP ${response.status}: ${message}`);
}

/** Outputs of an infer answer: binary sections viewed in place, JSON data (a server that ignored binary_data) converted. */
function decodeResponse(body: Buffer, headerLengthText: string | null): Tensor[] {
  const headerLength = headerLengthText === null ? body.length : Number(headerLengthText);
  if (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > body.length) {
    throw mpError('MP_ERR_RUNTIME_FAILED', `the server answered with an Inference-Header-Content-Length of ${headerLengthText} for a ${body.length}-byte body`);
  }
  const json = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as InferResponseJson;
  const outputs: Tensor[] = [];
  let offset = headerLength;
  for (const output of json.outputs ?? []) {
    const { name, shape } = output;
    if (!isDatatype(output.datatype)) throw mpError('MP_ERR_RUNTIME_FAILED', `output '${name}' has the unknown datatype '${output.datatype}'`);
    const datatype = output.datatype;
    const count = elementCount(shape);
    const size = output.parameters?.binary_data_size;
    let data: TensorData;
    if (size !== undefined) {
      data = decodeBinaryTensorData(name, datatype, shape, count, body, offset, size);
      offset += size;
    } else {
      data = fromJson(datatype, output.data);
    }
    outputs.push({ name, datatype, shape, data });
  }
  return outputs;
}

function fromJson(datatype: Datatype, value: unknown): TensorData {
  const flat = (Array.isArray(value) ? value.flat(Infinity) : [value]) as unknown[];
  if (datatype === 'BYTES') return flat.map((v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));
  if (datatype === 'FP16' || datatype === 'BF16') throw mpError('MP_ERR_RUNTIME_FAILED', `${datatype} output sent as JSON: expected binary data`);
  const array = new ARRAY_TYPES[datatype](flat.length);
  const big = datatype === 'INT64' || datatype === 'UINT64';
  for (let i = 0; i < flat.length; i++) (array as unknown as Array<number | bigint>)[i] = big ? BigInt(flat[i] as number) : Number(flat[i]);
  return array;
}

function tensorSpec(meta: TensorMetadataJson): { name: string; datatype: Datatype; shape: number[] } {
  if (!isDatatype(meta.datatype)) throw mpError('MP_ERR_MODEL_CONFIG', `tensor '${meta.name}' has the unknown datatype '${meta.datatype}'`);
  return { name: meta.name, datatype: meta.datatype, shape: [...meta.shape] };
}

function modelPath(model: string, version: string | undefined): string {
  return `v2/models/${encodeURIComponent(model)}${version !== undefined ? `/versions/${encodeURIComponent(version)}` : ''}`;
}
