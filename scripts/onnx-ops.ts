/**
 * Graph-building helpers for test models that need more than onnx-builder.ts offers: nodes with
 * attributes, int64 and scalar initializers, and the example MLP's dense layers as loose nodes, so
 * a builder can splice extra operators around the same Gemm/Relu chain and keep its signature.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { IR_VERSION, OPSET_VERSION, type MlpLayer } from './onnx-builder.js';

/** Attribute values by kind; a bigint is an INT, a number a FLOAT, an array of bigints INTS. */
export type AttributeValue = bigint | number | bigint[];

/** A graph under construction: builders push nodes and initializers and then serialize it. */
export interface GraphParts {
  nodes: NodeProto[];
  initializers: TensorProto[];
}

export function emptyGraph(): GraphParts {
  return { nodes: [], initializers: [] };
}

export function node(opType: string, input: string[], output: string[], name: string, attributes: Record<string, AttributeValue> = {}): NodeProto {
  const attribute: AttributeProto[] = Object.entries(attributes).map(([attrName, value]) => {
    if (typeof value === 'bigint') return create(AttributeProtoSchema, { name: attrName, type: AttributeProto_AttributeType.INT, i: value });
    if (typeof value === 'number') return create(AttributeProtoSchema, { name: attrName, type: AttributeProto_AttributeType.FLOAT, f: value });
    return create(AttributeProtoSchema, { name: attrName, type: AttributeProto_AttributeType.INTS, ints: value });
  });
  return create(NodeProtoSchema, { opType, input, output, name, attribute });
}

export function valueInfo(name: string, elemType: TensorProto_DataType, shape: (number | string)[]): ValueInfoProto {
  const dim = shape.map((d) =>
    create(TensorShapeProto_DimensionSchema, {
      value: typeof d === 'string' ? { case: 'dimParam', value: d } : { case: 'dimValue', value: BigInt(d) },
    }),
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, { elemType, shape: create(TensorShapeProtoSchema, { dim }) }),
      },
    }),
  });
}

/** raw_data is little-endian by the ONNX spec, whatever the host's byte order. */
export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): TensorProto {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: TensorProto_DataType.FLOAT, rawData: raw });
}

export function int64Tensor(name: string, dims: number[], values: readonly (number | bigint)[]): TensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]!), true);
  return create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: TensorProto_DataType.INT64, rawData: raw });
}

/**
 * Appends the MLP's Gemm(+Relu) chain from `input` and returns the name of its last value; the
 * last layer writes `output` so the chain can end in a graph output or feed further operators.
 * Same node layout as onnx-builder's buildMlpModel, so equal layers give bit-identical results.
 */
export function appendMlpLayers(graph: GraphParts, layers: MlpLayer[], input: string, output: string, prefix = 'fc'): string {
  let current = input;
  layers.forEach((layer, i) => {
    const weightName = `${prefix}${i}.weight`;
    const biasName = `${prefix}${i}.bias`;
    graph.initializers.push(
      floatTensor(weightName, [layer.inputSize, layer.outputSize], layer.weight),
      floatTensor(biasName, [layer.outputSize], layer.bias),
    );
    const gemmOut = i === layers.length - 1 ? output : `${prefix}${i}.out`;
    graph.nodes.push(node('Gemm', [current, weightName, biasName], [gemmOut], `${prefix}${i}`, { transB: 0n }));
    current = gemmOut;
    if (layer.relu) {
      const reluOut = `${prefix}relu${i}.out`;
      graph.nodes.push(node('Relu', [current], [reluOut], `${prefix}relu${i}`));
      current = reluOut;
    }
  });
  return current;
}

export function serializeModel(name: string, graph: GraphParts, inputs: ValueInfoProto[], outputs: ValueInfoProto[]): Uint8Array {
  const model = create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    producerName: 'modelport',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: OPSET_VERSION })],
    graph: create(GraphProtoSchema, { name, node: graph.nodes, input: inputs, output: outputs, initializer: graph.initializers }),
  });
  return toBinary(ModelProtoSchema, model);
}
