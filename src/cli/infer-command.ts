/**
 * `modelport infer`: one inference against a running server for a quick check. Inputs come from
 * JSON files (a nested array, or {"shape", "datatype", "data"}) or NumPy .npy files (sent as
 * binary tensors); datatypes and the batch dimension are taken from the model's metadata.
 * Prints the response with its outputs as JSON.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULT_URL, getJson, request } from './http-client.js';
import { EXIT_USAGE, reportFailure } from './exit.js';
import { parseNpy } from './npy-file.js';

interface TensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

interface InputSpec {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown;
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
};

function copy(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

export function registerInfer(program: Command): void {
  program
    .command('infer')
    .description('send one inference request to a running server and print the outputs')
    .argument('<model>', 'model name')
    .requiredOption('--input <name=file>', 'input tensor from a .json or .npy file, repeatable', collect)
    .option('--output <name>', 'output to return, repeatable (default: all)', collect)
    .option('--model-version <version>', 'model version (default: the latest ready)')
    .option('--url <url>', 'server base URL', DEFAULT_URL)
    .action(async (model: string, flags: { input: string[]; output?: string[]; modelVersion?: string; url: string }) => {
      const base = `v2/models/${encodeURIComponent(model)}${flags.modelVersion ? `/versions/${encodeURIComponent(flags.modelVersion)}` : ''}`;
      try {
        const metadata = await getJson<{ inputs: TensorMeta[] }>(flags.url, base);
        const inputs: InputSpec[] = [];
        const binary: Buffer[] = [];
        for (const argument of flags.input) {
          const eq = argument.indexOf('=');
          if (eq <= 0) {
            reportFailure(new Error(`--input expects NAME=FILE, got '${argument}'`), EXIT_USAGE);
            return;
          }
          const name = argument.slice(0, eq);
          const file = argument.slice(eq + 1);
          const meta = metadata.inputs.find((i) => i.name === name);
          if (!meta) throw new Error(`model '${model}' has no input '${name}'; its inputs are: ${metadata.inputs.map((i) => i.name).join(', ')}`);
          const content = await readFile(file);
          if (file.endsWith('.npy')) {
            const array = parseNpy(content, file);
            inputs.push({ name, datatype: array.datatype, shape: withBatch(array.shape, meta.shape), parameters: { binary_data_size: array.data.length } });
            binary.push(array.data);
          } else {
            inputs.push(jsonInput(name, JSON.parse(content.toString('utf8')) as unknown, meta));
          }
        }
        const header = Buffer.from(JSON.stringify({
          inputs,
          ...(flags.output ? { outputs: flags.output.map((name) => ({ name, parameters: { binary_data: false } })) } : {}),
          parameters: { binary_data_output: false },
        }));
        const headers: Record<string, string> = { 'content-type': binary.length ? 'application/octet-stream' : 'application/json' };
        if (binary.length) headers['inference-header-content-length'] = String(header.length);
        const response = await request(flags.url, 'POST', `${base}/infer`, Buffer.concat([header, ...binary]), headers);
        const body = Buffer.from(await response.arrayBuffer());
        process.stdout.write(`${stringify(decodeResponse(body, response.headers.get('inference-header-content-length')))}\n`);
      } catch (error) {
        reportFailure(error);
      }
    });
}

function jsonInput(name: string, value: unknown, meta: TensorMeta): InputSpec {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'data' in value) {
    const v = value as { shape?: number[]; datatype?: string; data: unknown };
    return { name, datatype: v.datatype ?? meta.datatype, shape: v.shape ?? withBatch(shapeOf(v.data), meta.shape), data: v.data };
  }
  return { name, datatype: meta.datatype, shape: withBatch(shapeOf(value), meta.shape), data: value };
}

/** Nested-array shape of a JSON value (a scalar is shape []). */
function shapeOf(value: unknown): number[] {
  const shape: number[] = [];
  let current = value;
  while (Array.isArray(current)) {
    shape.push(current.length);
    current = current[0];
  }
  return shape;
}

/** Adds a batch dimension of 1 when the data is one item of a batching model. */
function withBatch(shape: number[], modelShape: number[]): number[] {
  return shape.length === modelShape.length - 1 && modelShape[0] === -1 ? [1, ...shape] : shape;
}

function decodeResponse(body: Buffer, headerLength: string | null): unknown {
  if (headerLength === null) return JSON.parse(body.toString('utf8'));
  const length = Number(headerLength);
  const json = JSON.parse(body.subarray(0, length).toString('utf8')) as { outputs?: Array<{ datatype: string; parameters?: { binary_data_size?: number }; data?: unknown }> };
  let offset = length;
  for (const output of json.outputs ?? []) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    const bytes = body.subarray(offset, offset + size);
    offset += size;
    const view = VIEW[output.datatype];
    output.data = view ? Array.from(view(bytes) as ArrayLike<unknown>) : `<${size} bytes of ${output.datatype}>`;
    delete output.parameters!.binary_data_size;
  }
  return json;
}

function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
