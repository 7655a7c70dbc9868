/**
 * Reads a model's signature straight from its ONNX protobuf, without creating a session: the
 * repository calls this on the main thread to complete and check configurations, so it must be a
 * cheap parse. It also refuses files onnxruntime would choke on later or that would make it read
 * outside the model's folder (external data with absolute or '..' locations), each with a message
 * naming the file and what is wrong with it.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import {
  ModelProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { mpError, type Datatype, type ModelSignature, type TensorSpec } from '../../core/index.js';

/** ONNX element types onnxruntime-node can exchange with JavaScript, as protocol datatypes. */
const DATATYPES: ReadonlyMap<number, Datatype> = new Map([
  [TensorProto_DataType.BOOL, 'BOOL'],
  [TensorProto_DataType.UINT8, 'UINT8'],
  [TensorProto_DataType.UINT16, 'UINT16'],
  [TensorProto_DataType.UINT32, 'UINT32'],
  [TensorProto_DataType.UINT64, 'UINT64'],
  [TensorProto_DataType.INT8, 'INT8'],
  [TensorProto_DataType.INT16, 'INT16'],
  [TensorProto_DataType.INT32, 'INT32'],
  [TensorProto_DataType.INT64, 'INT64'],
  [TensorProto_DataType.FLOAT16, 'FP16'],
  [TensorProto_DataType.FLOAT, 'FP32'],
  [TensorProto_DataType.DOUBLE, 'FP64'],
  [TensorProto_DataType.STRING, 'BYTES'],
]);

/** Protocol datatype of an ONNX element type, undefined when onnxruntime-node cannot carry it. */
export function datatypeFromOnnxElemType(elemType: number): Datatype | undefined {
  return DATATYPES.get(elemType);
}

function loadError(message: string, cause?: unknown): Error {
  return mpError('MP_ERR_MODEL_LOAD', message, cause);
}

/** Reads, parses and checks an ONNX file; throws MP_ERR_MODEL_LOAD naming the problem. */
export async function inspectOnnxModel(modelPath: string): Promise<ModelSignature> {
  const bytes = await readModelFile(modelPath);
  const model = parseModel(modelPath, bytes);
  const graph = model.graph!;
  const signature = signatureOf(modelPath, graph);
  await checkExternalData(modelPath, model);
  return signature;
}

async function readModelFile(modelPath: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(modelPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw loadError(`model file '${modelPath}' does not exist`, error);
    if (code === 'EISDIR') throw loadError(`model file '${modelPath}' is a directory, expected an ONNX file`, error);
    throw loadError(`cannot read model file '${modelPath}': ${(error as Error).message}`, error);
  }
  if (bytes.byteLength === 0) throw loadError(`model file '${modelPath}' is empty, expected an ONNX model`);
  return bytes;
}

/** Parses the protobuf and checks it is shaped like an ONNX model at all. */
export function parseModel(modelPath: string, bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: false });
  } catch (error) {
    throw loadError(
      `'${modelPath}' is not a valid ONNX model: protobuf parsing failed (${(error as Error).message})`,
      error,
    );
  }
  // Arbitrary bytes sometimes parse as a protobuf by accident; a real model always has both.
  if (model.irVersion <= 0n || model.graph === undefined) {
    throw loadError(`'${modelPath}' is not a valid ONNX model: it has no ${model.irVersion <= 0n ? 'ir_version' : 'graph'}`);
  }
  return model;
}

/** Graph inputs minus initializers (ONNX IR < 4 lists weights as inputs), and graph outputs. */
export function signatureOf(modelPath: string, graph: GraphProto): ModelSignature {
  const initializers = new Set<string>();
  for (const tensor of graph.initializer) initializers.add(tensor.name);
  for (const sparse of graph.sparseInitializer) if (sparse.values) initializers.add(sparse.values.name);
  const inputs = graph.input.filter((value) => !initializers.has(value.name)).map((value) => tensorSpec(modelPath, 'input', value));
  const outputs = graph.output.map((value) => tensorSpec(modelPath, 'output', value));
  if (inputs.length === 0) throw loadError(`'${modelPath}' has no graph inputs; a served model needs at least one`);
  if (outputs.length === 0) throw loadError(`'${modelPath}' has no graph outputs; a served model needs at least one`);
  return { inputs, outputs };
}

function tensorSpec(modelPath: string, role: 'input' | 'output', value: ValueInfoProto): TensorSpec {
  const what = `${role} '${value.name}' of '${modelPath}'`;
  const type = value.type?.value;
  if (type?.case === undefined) throw loadError(`${what} has no type`);
  if (type.case !== 'tensorType') {
    throw loadError(`${what} is a ${type.case.replace(/Type$/, '')}; only tensor inputs and outputs are supported`);
  }
  const elemType = type.value.elemType;
  if (elemType === TensorProto_DataType.BFLOAT16) {
    throw loadError(`${what} is BF16, which onnxruntime-node cannot exchange with JavaScript`);
  }
  const datatype = datatypeFromOnnxElemType(elemType);
  if (datatype === undefined) {
    const name = TensorProto_DataType[elemType] ?? String(elemType);
    throw loadError(`${what} has element type ${name}, which onnxruntime-node cannot exchange with JavaScript`);
  }
  // No shape at all means unknown rank; -1 is the closest the signature can say.
  const dims = type.value.shape?.dim;
  const shape =
    dims === undefined
      ? [-1]
      : dims.map((dim) => (dim.value.case === 'dimValue' && dim.value.value >= 0n ? Number(dim.value.value) : -1));
  return { name: value.name, datatype, shape };
}

/**
 * onnxruntime resolves external data locations against the model's folder and follows absolute
 * and '..' paths too, so a model from an upload or a registry could make the server read any
 * file. Only locations inside the folder are accepted, and the files must exist.
 */
async function checkExternalData(modelPath: string, model: ModelProto): Promise<void> {
  const folder = dirname(resolve(modelPath));
  const locations = new Map<string, string>();
  forEachTensor(model, (tensor) => {
    if (tensor.dataLocation !== TensorProto_DataLocation.EXTERNAL && tensor.externalData.length === 0) return;
    const location = tensor.externalData.find((entry) => entry.key === 'location')?.value;
    const what = `tensor '${tensor.name}' of '${modelPath}'`;
    if (location === undefined || location === '') throw loadError(`${what} has external data without a location`);
    if (!isInside(folder, location)) {
      throw loadError(`${what} keeps its data at '${location}', outside the model's folder; external data files must sit beside the model`);
    }
    if (!locations.has(location)) locations.set(location, tensor.name);
  });
  const realFolder = locations.size > 0 ? await realpath(folder) : folder;
  for (const [location, tensorName] of locations) {
    let real: string;
    try {
      real = await realpath(resolve(folder, location));
      const info = await stat(real);
      if (!info.isFile()) throw new Error('not a file');
    } catch (error) {
      throw loadError(`external data file '${location}' of tensor '${tensorName}' not found beside '${modelPath}'`, error);
    }
    // A symbolic link beside the model is as good as a '..' path: where it leads is what counts.
    const rel = relative(realFolder, real);
    if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
      throw loadError(`external data file '${location}' of tensor '${tensorName}' links outside the model's folder; external data files must sit beside the model`);
    }
  }
}

function isInside(folder: string, location: string): boolean {
  // Windows forms are refused everywhere: a model file may travel between systems.
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location) || location.startsWith('\\')) return false;
  if (location.split(/[\\/]/).includes('..')) return false;
  const rel = relative(folder, resolve(folder, location));
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Every TensorProto the model carries: initializers, constants in attributes, subgraphs, functions. */
function forEachTensor(model: ModelProto, visit: (tensor: TensorProto) => void): void {
  const visitNodes = (nodes: readonly NodeProto[]): void => {
    for (const node of nodes) {
      for (const attribute of node.attribute) {
        if (attribute.t) visit(attribute.t);
        for (const tensor of attribute.tensors) visit(tensor);
        if (attribute.sparseTensor?.values) visit(attribute.sparseTensor.values);
        if (attribute.sparseTensor?.indices) visit(attribute.sparseTensor.indices);
        for (const sparse of attribute.sparseTensors) {
          if (sparse.values) visit(sparse.values);
          if (sparse.indices) visit(sparse.indices);
        }
        if (attribute.g) visitGraph(attribute.g);
        for (const graph of attribute.graphs) visitGraph(graph);
      }
    }
  };
  const visitGraph = (graph: GraphProto): void => {
    for (const tensor of graph.initializer) visit(tensor);
    for (const sparse of graph.sparseInitializer) {
      if (sparse.values) visit(sparse.values);
      if (sparse.indices) visit(sparse.indices);
    }
    visitNodes(graph.node);
  };
  if (model.graph) visitGraph(model.graph);
  for (const fn of model.functions) visitNodes(fn.node);
}
