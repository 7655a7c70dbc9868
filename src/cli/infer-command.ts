/**
 * `modelport infer`: one inference against a running server for a quick check, over REST or, with
 * --grpc, over gRPC. Inputs come from JSON files (a nested array, or {"shape", "datatype", "data"})
 * or NumPy .npy files (sent as binary tensors); datatypes and the batch dimension are taken from
 * the model's metadata. Prints the response with its outputs as JSON.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { nestedShape } from '../core/index.js';
import { DEFAULT_GRPC_ADDRESS, DEFAULT_URL } from './http-client.js';
import { EXIT_USAGE, reportFailure } from './exit.js';
import { grpcTransport, httpTransport, type CliInput, type TensorMeta } from './infer-transport.js';
import { parseNpy } from './npy-file.js';

export function registerInfer(program: Command): void {
  program
    .command('infer')
    .description('send one inference request to a running server and print the outputs')
    .argument('<model>', 'model name')
    .requiredOption('--input <name=file>', 'input tensor from a .json or .npy file, repeatable', collect)
    .option('--output <name>', 'output to return, repeatable (default: all)', collect)
    .option('--model-version <version>', 'model version (default: the latest ready)')
    .option('--url <url>', 'server base URL', DEFAULT_URL)
    .option('--grpc [address]', `use the gRPC endpoint (default address ${DEFAULT_GRPC_ADDRESS})`)
    .action(async (model: string, flags: { input: string[]; output?: string[]; modelVersion?: string; url: string; grpc?: string | true }) => {
      const transport = flags.grpc ? await grpcTransport(flags.grpc === true ? DEFAULT_GRPC_ADDRESS : flags.grpc) : httpTransport(flags.url);
      try {
        const metadata = await transport.metadata(model, flags.modelVersion);
        const inputs: CliInput[] = [];
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
            inputs.push({ name, datatype: array.datatype, shape: withBatch(array.shape, meta.shape), raw: array.data });
          } else {
            inputs.push(jsonInput(name, JSON.parse(content.toString('utf8')) as unknown, meta));
          }
        }
        const response = await transport.infer(model, flags.modelVersion, inputs, flags.output);
        process.stdout.write(`${stringify(response)}\n`);
      } catch (error) {
        reportFailure(error);
      } finally {
        transport.close();
      }
    });
}

function jsonInput(name: string, value: unknown, meta: TensorMeta): CliInput {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'data' in value) {
    const v = value as { shape?: number[]; datatype?: string; data: unknown };
    return { name, datatype: v.datatype ?? meta.datatype, shape: v.shape ?? withBatch(nestedShape(v.data), meta.shape), json: v.data };
  }
  return { name, datatype: meta.datatype, shape: withBatch(nestedShape(value), meta.shape), json: value };
}


/** Adds a batch dimension of 1 when the data is one item of a batching model. */
function withBatch(shape: number[], modelShape: number[]): number[] {
  return shape.length === modelShape.length - 1 && modelShape[0] === -1 ? [1, ...shape] : shape;
}

function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
