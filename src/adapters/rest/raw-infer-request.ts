/**
 * Triton's raw binary infer request (`Inference-Header-Content-Length: 0`): the body is nothing
 * but the bytes of the model's single input, so name, datatype and shape come from the model's
 * metadata. Batching models get a batch of one; at most one other dimension may be variable, and
 * the body length decides it. Every output is returned binary.
 */
import { checkTensorShape, decodeBinaryTensorData, ELEMENT_BYTES, mpError, TensorBytesBudget, type RequestLimits } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';

import type { DecodedInferRequest } from './infer-request-decoder.js';

export function decodeRawInferRequest(dataPlane: DataPlaneApi, body: Buffer, modelName: string, modelVersion: string | undefined, limits: RequestLimits): DecodedInferRequest {
  const metadata = dataPlane.modelMetadata(modelName, modelVersion);
  if (metadata.inputs.length !== 1) {
    throw mpError('MP_ERR_REQUEST_MALFORMED', `a raw binary request needs a model with exactly one input; model '${modelName}' has ${metadata.inputs.length}`);
  }
  const spec = metadata.inputs[0]!;
  const datatype = spec.datatype;
  if (datatype === 'BYTES') {
    throw mpError('MP_ERR_REQUEST_MALFORMED', `a raw binary request cannot carry BYTES input '${spec.name}'; send a JSON header with it`);
  }
  const elementBytes = ELEMENT_BYTES[datatype];
  if (body.byteLength % elementBytes !== 0) {
    throw mpError('MP_ERR_INPUT_DATA', `raw input '${spec.name}' is ${datatype}, so its byte size must be a multiple of ${elementBytes}; got ${body.byteLength}`);
  }
  const count = body.byteLength / elementBytes;
  const batching = dataPlane.modelConfig(modelName, modelVersion).max_batch_size > 0;
  const shape = [...spec.shape];
  if (batching) shape[0] = 1;
  const variable = shape.reduce<number[]>((found, dim, i) => (dim < 0 ? [...found, i] : found), []);
  const known = shape.reduce((product, dim) => (dim < 0 ? product : product * dim), 1);
  if (variable.length > 1) {
    throw mpError('MP_ERR_INPUT_SHAPE', `a raw binary request needs at most one variable dimension; input '${spec.name}' has shape [${spec.shape.join(',')}]`);
  }
  if (variable.length === 1 && known > 0 && count % known === 0) shape[variable[0]!] = count / known;
  else if (variable.length === 1 || known !== count) {
    throw mpError('MP_ERR_INPUT_DATA', `raw input '${spec.name}' of ${body.byteLength} bytes does not fit shape [${spec.shape.join(',')}] of ${datatype}`);
  }

  checkTensorShape(spec.name, datatype, shape, limits);
  new TensorBytesBudget(limits).addElements(spec.name, datatype, count);
  const data = decodeBinaryTensorData(spec.name, datatype, shape, count, body, 0, body.byteLength);
  const request: DecodedInferRequest['request'] = { modelName, inputs: [{ name: spec.name, datatype, shape, data }] };
  if (modelVersion !== undefined) request.modelVersion = modelVersion;
  return { request, binaryOutputs: [], binaryByDefault: true };
}
