/**
 * How `modelport infer` reaches a server: the V2 REST API (JSON inputs as JSON, .npy inputs as
 * binary tensors) or, with --grpc, the V2 gRPC service (every input as raw contents). Both print
 * the same thing: the response with outputs as plain JSON arrays.
 */
import { ARRAY_TYPES, isDatatype, writeBinaryTensorData, type Datatype } from '../core/index.js';
import { getJson, request } from './http-client.js';

export interface TensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

/** One input as the user gave it: raw little-endian bytes (.npy) or a nested JSON array. */
export interface CliInput {
  name: string;
  datatype: string;
  shape: number[];
  raw?: Buffer;
  json?: unknown;
}

export interface PrintedResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: Array<{ name: string; datatype: string; shape: number[]; data: unknown }>;
}

export interface InferTransport {
  metadata(model: string, version: string | undefined): Promise<{ inputs: TensorMeta[] }>;
  infer(model: string, version: string | undefined, inputs: CliInput[], outputs: string[] | undefined): Promise<PrintedResponse>;
  close(): void;
}

const VIEW: Record<string, (b: Buffer) => ArrayLike<number | bigint | boolean>> = {
  BOOL: (b) => Array.from(b, (x) => x !== 0),
  UINT8: (b) => new Uint8Array(b.buffer, b.byteOffset, b.length),
  INT8: (b) => new Int8Array(b.buffer, b.byteOffset, b.length),
  UINT16: (b) => new Uint16Array(copy(b)),
  INT16: (b) => new Int16Array(copy(b)),
  UINT32: (b) => new Uint32Array(copy(b)),
  INT32: (b) => new Int32Array(copy(b)),
  UINT64: (b) => new BigUint64Array(copy(b)),
  INT64: (b) => new BigInt64Array(copy(b)),
  FP32: (b) => new Float32Array(copy(b)),
  FP64: (b) => new Float64Array(copy(b)),
  BYTES: (b) => splitBytes(b),
};

function copy(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

function splitBytes(b: Buffer): boolean[] & string[] {
  const items: string[] = [];
  for (let offset = 0; offset + 4 <= b.length; ) {
    const length = b.readUInt32LE(offset);
    items.push(b.subarray(offset + 4, offset + 4 + length).toString('utf8'));
    offset += 4 + length;
  }
  return items as boolean[] & string[];
}

function rawToJson(datatype: string, bytes: Buffer): unknown {
  const view = VIEW[datatype];
  return view ? Array.from(view(bytes) as ArrayLike<unknown>) : `<${bytes.length} bytes of ${datatype}>`;
}

/** A nested JSON array in the raw layout of `datatype` (BYTES from strings, BOOL from booleans). */
export function jsonToRaw(name: string, datatype: string, value: unknown): Buffer {
  if (!isDatatype(datatype)) throw new Error(`input '${name}': unknown datatype '${datatype}'`);
  const flat = (Array.isArray(value) ? value.flat(Infinity) : [value]) as unknown[];
  if (datatype === 'BYTES') {
    const items = flat.map((v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));
    const out = Buffer.alloc(items.reduce((n, i) => n + 4 + i.length, 0));
    writeBinaryTensorData(items, out, 0);
    return out;
  }
  if (datatype === 'FP16' || datatype === 'BF16') throw new Error(`input '${name}': give ${datatype} data as a .npy file`);
  const array = new ARRAY_TYPES[datatype as Exclude<Datatype, 'BYTES'>](flat.length);
  const big = datatype === 'INT64' || datatype === 'UINT64';
  flat.forEach((v, i) => {
    (array as unknown as Array<number | bigint>)[i] = big ? BigInt(v as number) : Number(v);
  });
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

function modelPath(model: string, version: string | undefined): string {
  return `v2/models/${encodeURIComponent(model)}${version ? `/versions/${encodeURIComponent(version)}` : ''}`;
}

export function httpTransport(url: string): InferTransport {
  return {
    metadata: (model, version) => getJson<{ inputs: TensorMeta[] }>(url, modelPath(model, version)),
    async infer(model, version, inputs, outputs) {
      const binary: Buffer[] = [];
      const specs = inputs.map((input) => {
        const spec = { name: input.name, datatype: input.datatype, shape: input.shape };
        if (input.raw === undefined) return { ...spec, data: input.json };
        binary.push(input.raw);
        return { ...spec, parameters: { binary_data_size: input.raw.length } };
      });
      const header = Buffer.from(
        JSON.stringify({
          inputs: specs,
          ...(outputs ? { outputs: outputs.map((name) => ({ name, parameters: { binary_data: true } })) } : {}),
          parameters: { binary_data_output: true },
        }),
      );
      const headers: Record<string, string> = { 'content-type': binary.length ? 'application/octet-stream' : 'application/json' };
      headers['inference-header-content-length'] = String(header.length);
      const response = await request(url, 'POST', `${modelPath(model, version)}/infer`, Buffer.concat([header, ...binary]), headers);
      const body = Buffer.from(await response.arrayBuffer());
      const length = Number(response.headers.get('inference-header-content-length') ?? body.length);
      const json = JSON.parse(body.subarray(0, length).toString('utf8')) as PrintedResponse & {
        outputs: Array<{ parameters?: { binary_data_size?: number } }>;
      };
      let offset = length;
      for (const output of json.outputs) {
        const size = output.parameters?.binary_data_size;
        if (size === undefined) continue;
        output.data = rawToJson(output.datatype, body.subarray(offset, offset + size));
        offset += size;
        delete output.parameters;
      }
      return json;
    },
    close() {},
  };
}

/** gRPC's modules load here, only for --grpc. */
export async function grpcTransport(address: string): Promise<InferTransport> {
  const { GrpcInferenceClient } = await import('../adapters/grpc/index.js');
  const client = new GrpcInferenceClient(address, process.env.MODELPORT_TOKEN);
  return {
    async metadata(model, version) {
      const metadata = await client.call<{ inputs: Array<{ name: string; datatype: string; shape: string[] }> }>('ModelMetadata', { name: model, version: version ?? '' });
      return { inputs: metadata.inputs.map((i) => ({ ...i, shape: i.shape.map(Number) })) };
    },
    async infer(model, version, inputs, outputs) {
      const response = await client.call<{
        model_name: string;
        model_version: string;
        id: string;
        outputs: Array<{ name: string; datatype: string; shape: string[] }>;
        raw_output_contents: Buffer[];
      }>('ModelInfer', {
        model_name: model,
        model_version: version ?? '',
        inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape })),
        raw_input_contents: inputs.map((i) => i.raw ?? jsonToRaw(i.name, i.datatype, i.json)),
        outputs: (outputs ?? []).map((name) => ({ name })),
      });
      return {
        model_name: response.model_name,
        model_version: response.model_version,
        ...(response.id ? { id: response.id } : {}),
        outputs: response.outputs.map((o, i) => ({
          name: o.name,
          datatype: o.datatype,
          shape: o.shape.map(Number),
          data: rawToJson(o.datatype, response.raw_output_contents[i]!),
        })),
      };
    },
    close: () => client.close(),
  };
}
