/**
 * Auto-completion of a model configuration from the model file's signature, as Triton's ONNX
 * Runtime backend does, and the check of a written configuration against that signature. A model
 * served without a configuration, or with max_batch_size, inputs or outputs left out, gets them from
 * the file; a configuration that contradicts the file (a tensor the model does not have, another
 * datatype, incompatible dims, batching on a model without a dynamic batch dimension) fails the
 * version's load with a reason naming the tensor and the difference, instead of failing requests
 * later inside the engine.
 */
import {
  datatypeFromConfig,
  datatypeToConfig,
  mpError,
  type ModelSignature,
  type TensorConfig,
  type TensorSpec,
} from '../core/index.js';
import type { PartialModelConfig, PartialTensorConfig } from './model-config-parser.js';

export interface CompletionOptions {
  model: string;
  version: number;
  /** max_batch_size for a batchable model whose configuration does not set it. */
  defaultMaxBatchSize: number;
}

export type CompletedModelConfig = PartialModelConfig & { max_batch_size: number; input: TensorConfig[]; output: TensorConfig[] };

/**
 * A model can batch when every input and output has a dynamic leading dimension: the batcher
 * concatenates requests along that dimension and splits outputs along it.
 */
export function isBatchable(signature: ModelSignature): boolean {
  const leadingDynamic = (spec: TensorSpec) => spec.shape.length > 0 && spec.shape[0] === -1;
  return signature.inputs.every(leadingDynamic) && signature.outputs.every(leadingDynamic);
}

/**
 * Returns the configuration with max_batch_size, inputs and outputs filled from the signature and
 * checked against it. Inputs are ordered as the model declares them; outputs keep the configured
 * order (a configuration may list a subset of the model's outputs). An explicit max_batch_size,
 * 0 included, is kept: 0 is how a configuration turns batching off for a batchable model.
 */
export function completeModelConfig(config: PartialModelConfig, signature: ModelSignature, options: CompletionOptions): CompletedModelConfig {
  const fail = (message: string) =>
    mpError(
      'MP_ERR_MODEL_CONFIG',
      `model '${options.model}' version ${options.version}: the configuration does not match the model file: ${message}`,
    );
  const maxBatchSize = config.max_batch_size ?? (isBatchable(signature) ? Math.max(0, options.defaultMaxBatchSize) : 0);
  const batching = maxBatchSize > 0;
  const modelDims = (spec: TensorSpec) => (batching ? spec.shape.slice(1) : spec.shape.slice());

  if (batching) {
    // Every model input takes part in a batch, but only the configured outputs are ever asked for.
    const configuredOutputs = config.output?.length ? new Set(config.output.map((t) => t.name)) : undefined;
    const tensors = [
      ...signature.inputs.map((spec) => ({ spec, kind: 'input' })),
      ...signature.outputs.filter((spec) => !configuredOutputs || configuredOutputs.has(spec.name)).map((spec) => ({ spec, kind: 'output' })),
    ];
    for (const { spec, kind } of tensors) {
      if (spec.shape.length === 0 || spec.shape[0] !== -1) {
        throw fail(
          `max_batch_size is ${maxBatchSize} but ${kind} '${spec.name}' has shape ${showShape(spec.shape)} in the model, ` +
            'without a dynamic (-1) first dimension to batch along; set max_batch_size to 0, or export the model with a dynamic batch dimension',
        );
      }
    }
  }
  const input = completeTensors('input', config.input, signature.inputs, modelDims, fail, true);
  const output = completeTensors('output', config.output, signature.outputs, modelDims, fail, false);
  return { ...config, max_batch_size: maxBatchSize, input, output };
}

function completeTensors(
  kind: 'input' | 'output',
  configured: PartialTensorConfig[] | undefined,
  specs: readonly TensorSpec[],
  modelDims: (spec: TensorSpec) => number[],
  fail: (message: string) => Error,
  requireAll: boolean,
): TensorConfig[] {
  if (configured === undefined || configured.length === 0) {
    return specs.map((spec) => ({ name: spec.name, data_type: datatypeToConfig(spec.datatype), dims: modelDims(spec) }));
  }
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const names = specs.map((spec) => `'${spec.name}'`).join(', ');
  const completed = new Map<string, TensorConfig>();
  for (const tensor of configured) {
    const spec = byName.get(tensor.name);
    if (!spec) throw fail(`${kind} '${tensor.name}' is not an ${kind} of the model; the model's ${kind}s are ${names}`);
    const expectedType = datatypeToConfig(spec.datatype);
    if (tensor.data_type !== undefined && datatypeFromConfig(tensor.data_type) !== spec.datatype) {
      throw fail(`${kind} '${tensor.name}' has data_type ${tensor.data_type} in the configuration but ${expectedType} in the model`);
    }
    const dims = modelDims(spec);
    if (tensor.dims !== undefined) {
      const difference = dimsDifference(tensor.dims, dims);
      if (difference) {
        throw fail(
          `${kind} '${tensor.name}' has dims ${showShape(tensor.dims)} in the configuration but the model declares ${showShape(spec.shape)}` +
            `${dims.length !== spec.shape.length ? ` (dims ${showShape(dims)} without the batch dimension)` : ''}: ${difference}`,
        );
      }
    }
    const done: TensorConfig = { ...tensor, data_type: tensor.data_type ?? expectedType, dims: tensor.dims ?? dims };
    completed.set(tensor.name, done);
  }
  if (requireAll) {
    const missing = specs.filter((spec) => !completed.has(spec.name)).map((spec) => `'${spec.name}'`);
    if (missing.length > 0) {
      throw fail(
        `the model's ${kind}${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing from the configuration; ` +
          `list every ${kind} of the model (${names}) or none to take them from the model file`,
      );
    }
    // Inputs in the model's order, whatever order the file lists them in.
    return specs.map((spec) => completed.get(spec.name)!);
  }
  return configured.map((tensor) => completed.get(tensor.name)!);
}

/** Why configured dims do not fit the model's, or '' when they do (-1 in the model accepts any size). */
function dimsDifference(configured: readonly number[], model: readonly number[]): string {
  if (configured.length !== model.length) {
    return `expected ${model.length} dimension${model.length === 1 ? '' : 's'}, got ${configured.length}`;
  }
  for (let k = 0; k < model.length; k++) {
    const want = model[k]!;
    const got = configured[k]!;
    if (want !== -1 && got !== want) {
      return `dimension ${k} is ${got === -1 ? '-1 (any size)' : got} but the model accepts only ${want}`;
    }
  }
  return '';
}

function showShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
