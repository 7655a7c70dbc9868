/**
 * Checks an inference request against the signature of the version that will run it, before it
 * reaches a queue: input names, datatypes, shapes against the configured dims (-1 is any), batch
 * size against max_batch_size, data length against the shape, requested outputs. Returns the
 * inputs in the model's order so the scheduler and runtime never see a malformed request.
 */
import {
  datatypeFromConfig,
  elementCount,
  mpError,
  type InferenceRequest,
  type ModelConfig,
  type Tensor,
  type TensorConfig,
} from '../core/index.js';

export interface ValidatedRequest {
  inputs: Tensor[];
  outputNames: string[];
  /** Items carried (dim 0) when the model batches, else 1. */
  batchSize: number;
}

export function validateRequest(request: InferenceRequest, config: ModelConfig): ValidatedRequest {
  const model = config.name;
  const batching = config.max_batch_size > 0;
  const byName = new Map<string, Tensor>();
  for (const input of request.inputs) {
    if (byName.has(input.name)) {
      throw mpError('MP_ERR_INPUT_DUPLICATE', `input '${input.name}' appears more than once in the request for model '${model}'`);
    }
    byName.set(input.name, input);
  }

  const inputs: Tensor[] = [];
  let batchSize = batching ? -1 : 1;
  for (const spec of config.input) {
    const tensor = byName.get(spec.name);
    if (!tensor) {
      if (spec.optional) continue;
      throw mpError(
        'MP_ERR_INPUT_MISSING',
        `expected ${config.input.length} inputs but got ${request.inputs.length} inputs for model '${model}': missing input '${spec.name}' (expected inputs: ${names(config.input)})`,
      );
    }
    byName.delete(spec.name);
    checkTensor(tensor, spec, config);
    if (batching) {
      const items = tensor.shape[0]!;
      if (batchSize === -1) batchSize = items;
      else if (items !== batchSize) {
        throw mpError(
          'MP_ERR_INPUT_SHAPE',
          `input '${tensor.name}' of model '${model}' has batch size ${items} but other inputs have ${batchSize}; every input must have the same first dimension`,
        );
      }
    }
    inputs.push(tensor);
  }
  for (const extra of byName.keys()) {
    throw mpError('MP_ERR_INPUT_UNKNOWN', `unexpected inference input '${extra}' for model '${model}'; expected inputs: ${names(config.input)}`);
  }
  if (batchSize === -1) batchSize = 1;

  let outputNames: string[];
  if (request.outputs && request.outputs.length > 0) {
    outputNames = [];
    const seen = new Set<string>();
    for (const requested of request.outputs) {
      if (!config.output.some((o) => o.name === requested.name)) {
        throw mpError(
          'MP_ERR_OUTPUT_UNKNOWN',
          `unexpected inference output '${requested.name}' for model '${model}'; expected one of: ${names(config.output)}`,
        );
      }
      if (requested.parameters?.['classification'] !== undefined) {
        // Not advertised in the server's extensions; refuse rather than silently return raw scores.
        throw mpError(
          'MP_ERR_REQUEST_PARAMETER',
          `output '${requested.name}' of model '${model}' asks for 'classification', which this server does not support; request the raw output instead`,
        );
      }
      if (seen.has(requested.name)) continue;
      seen.add(requested.name);
      outputNames.push(requested.name);
    }
  } else {
    outputNames = config.output.map((o) => o.name);
  }
  return { inputs, outputNames, batchSize };
}

function checkTensor(tensor: Tensor, spec: TensorConfig, config: ModelConfig): void {
  const model = config.name;
  const expectedType = datatypeFromConfig(spec.data_type);
  if (tensor.datatype !== expectedType) {
    throw mpError(
      'MP_ERR_INPUT_DATATYPE',
      `inference input '${tensor.name}' of model '${model}' has datatype ${tensor.datatype}, expected ${expectedType}`,
    );
  }
  const { shape } = tensor;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw mpError('MP_ERR_INPUT_SHAPE', `inference input '${tensor.name}' of model '${model}' has invalid shape [${shape.join(',')}]: dimensions must be non-negative integers`);
    }
  }
  const batching = config.max_batch_size > 0;
  const dims = spec.dims;
  const expected = batching ? [-1, ...dims] : dims;
  const shown = `[${expected.join(',')}]`;
  if (shape.length !== expected.length) {
    throw mpError(
      'MP_ERR_INPUT_SHAPE',
      `unexpected shape for input '${tensor.name}' for model '${model}'. Expected ${shown}, got [${shape.join(',')}]`,
    );
  }
  for (let i = batching ? 1 : 0; i < expected.length; i++) {
    if (expected[i] !== -1 && expected[i] !== shape[i]) {
      throw mpError(
        'MP_ERR_INPUT_SHAPE',
        `unexpected shape for input '${tensor.name}' for model '${model}'. Expected ${shown}, got [${shape.join(',')}]`,
      );
    }
    // onnxruntime does not reliably survive empty tensors: two of them in one call abort the
    // whole process (std::terminate) in the Silero VAD example. A variable dimension of 0 is
    // refused here rather than handed to native code.
    if (expected[i] === -1 && shape[i] === 0) {
      throw mpError(
        'MP_ERR_INPUT_SHAPE',
        `input '${tensor.name}' of model '${model}' is empty: shape [${shape.join(',')}] has 0 in dimension ${i}, which the model leaves variable; send at least one element there`,
      );
    }
  }
  if (batching) {
    const items = shape[0]!;
    if (items < 1 || items > config.max_batch_size) {
      throw mpError(
        'MP_ERR_INPUT_SHAPE',
        `inference request batch-size must be <= ${config.max_batch_size} for model '${model}' (and at least 1), got ${items} in input '${tensor.name}'`,
      );
    }
  }
  const count = elementCount(shape);
  if (tensor.data.length !== count) {
    throw mpError(
      'MP_ERR_INPUT_DATA',
      `input '${tensor.name}' of model '${model}' has ${tensor.data.length} elements but its shape [${shape.join(',')}] needs ${count}`,
    );
  }
}

function names(specs: readonly { name: string }[]): string {
  return specs.map((s) => s.name).join(', ');
}
