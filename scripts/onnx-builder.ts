/**
 * Writes small ONNX models from code (onnx-buf + @bufbuild/protobuf), so tests, benchmarks and the
 * example repository get real models without downloading weights: a seeded fp32 MLP whose weights
 * tests can recompute to check a forward pass, and an Identity model per datatype for round-trip
 * tests of every tensor type the server carries.
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
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';

/** ONNX IR version and default-domain opset the builders emit; ORT 1.x loads both. */
export const IR_VERSION = 8n;
export const OPSET_VERSION = 17n;

export interface MlpSpec {
  inputSize: number;
  hiddenSizes: number[];
  outputSize: number;
  seed: number;
}

/** One dense layer: `weight` is row-major [inputSize, outputSize] (Gemm's B without transB). */
export interface MlpLayer {
  inputSize: number;
  outputSize: number;
  weight: Float32Array;
  bias: Float32Array;
  /** Whether a Relu follows (every layer but the last). */
  relu: boolean;
}

/** A tensor of the identity model; `shape` may use -1 (or a string) for a dynamic dimension. */
export interface IdentityTensorSpec {
  name: string;
  /** Protocol datatype name ("FP32", "BYTES", …). */
  datatype: string;
  shape: (number | string)[];
}

/** Suffix of each identity output's name: input "x" is echoed as output "x_out". */
export const IDENTITY_OUTPUT_SUFFIX = '_out';

const ONNX_TYPES: Record<string, TensorProto_DataType> = {
  BOOL: TensorProto_DataType.BOOL,
  UINT8: TensorProto_DataType.UINT8,
  UINT16: TensorProto_DataType.UINT16,
  UINT32: TensorProto_DataType.UINT32,
  UINT64: TensorProto_DataType.UINT64,
  INT8: TensorProto_DataType.INT8,
  INT16: TensorProto_DataType.INT16,
  INT32: TensorProto_DataType.INT32,
  INT64: TensorProto_DataType.INT64,
  FP16: TensorProto_DataType.FLOAT16,
  BF16: TensorProto_DataType.BFLOAT16,
  FP32: TensorProto_DataType.FLOAT,
  FP64: TensorProto_DataType.DOUBLE,
  BYTES: TensorProto_DataType.STRING,
};

/**
 * mulberry32: tiny, fast and identical on every platform, so a seed always yields the same model
 * and a test can regenerate the exact weights it needs for a reference computation.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The MLP's weights. Uniform in ±sqrt(3/fan_in) (standard deviation 1/sqrt(fan_in)) so activations
 * stay in a sane range through the layers; biases are small so they matter without dominating.
 */
export function generateMlpLayers(spec: MlpSpec): MlpLayer[] {
  const random = seededRandom(spec.seed);
  const sizes = [spec.inputSize, ...spec.hiddenSizes, spec.outputSize];
  const layers: MlpLayer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const inputSize = sizes[i]!;
    const outputSize = sizes[i + 1]!;
    const scale = Math.sqrt(3 / inputSize);
    const weight = new Float32Array(inputSize * outputSize);
    for (let j = 0; j < weight.length; j++) weight[j] = (random() * 2 - 1) * scale;
    const bias = new Float32Array(outputSize);
    for (let j = 0; j < bias.length; j++) bias[j] = (random() * 2 - 1) * 0.1;
    layers.push({ inputSize, outputSize, weight, bias, relu: i + 2 < sizes.length });
  }
  return layers;
}

/**
 * An fp32 MLP: Gemm(+bias) and Relu per hidden layer, then a Gemm producing logits.
 * Input 'input' [batch, inputSize], output 'output' [batch, outputSize]; 'batch' is a dim_param.
 */
export function buildMlpModel(spec: MlpSpec): Uint8Array {
  const layers = generateMlpLayers(spec);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = 'input';
  layers.forEach((layer, i) => {
    const weightName = `fc${i}.weight`;
    const biasName = `fc${i}.bias`;
    initializers.push(
      floatInitializer(weightName, [layer.inputSize, layer.outputSize], layer.weight),
      floatInitializer(biasName, [layer.outputSize], layer.bias),
    );
    const last = i === layers.length - 1;
    const gemmOut = last ? 'output' : `fc${i}.out`;
    nodes.push(node('Gemm', [current, weightName, biasName], [gemmOut], `fc${i}`));
    current = gemmOut;
    if (layer.relu) {
      const reluOut = `relu${i}.out`;
      nodes.push(node('Relu', [current], [reluOut], `relu${i}`));
      current = reluOut;
    }
  });
  return serialize(
    'mlp',
    nodes,
    [valueInfo('input', TensorProto_DataType.FLOAT, ['batch', spec.inputSize])],
    [valueInfo('output', TensorProto_DataType.FLOAT, ['batch', spec.outputSize])],
    initializers,
  );
}

/**
 * One Identity node per input; input `x` comes back as output `x_out` (IDENTITY_OUTPUT_SUFFIX)
 * with the same datatype and shape. -1 in a shape becomes a dim_param named `<input>_d<axis>`.
 */
export function buildIdentityModel(specs: IdentityTensorSpec[]): Uint8Array {
  const inputs: ValueInfoProto[] = [];
  const outputs: ValueInfoProto[] = [];
  const nodes: NodeProto[] = [];
  for (const spec of specs) {
    const elemType = ONNX_TYPES[spec.datatype];
    if (elemType === undefined) throw new Error(`buildIdentityModel: unknown datatype '${spec.datatype}'`);
    const shape = spec.shape.map((dim, axis) => (dim === -1 ? `${spec.name}_d${axis}` : dim));
    const output = spec.name + IDENTITY_OUTPUT_SUFFIX;
    inputs.push(valueInfo(spec.name, elemType, shape));
    outputs.push(valueInfo(output, elemType, shape));
    nodes.push(node('Identity', [spec.name], [output], `identity_${spec.name}`));
  }
  return serialize('identity', nodes, inputs, outputs, []);
}

function serialize(
  name: string,
  nodes: NodeProto[],
  inputs: ValueInfoProto[],
  outputs: ValueInfoProto[],
  initializers: TensorProto[],
): Uint8Array {
  const model = create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    producerName: 'modelport',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: OPSET_VERSION })],
    graph: create(GraphProtoSchema, { name, node: nodes, input: inputs, output: outputs, initializer: initializers }),
  });
  return toBinary(ModelProtoSchema, model);
}

function node(opType: string, input: string[], output: string[], name: string): NodeProto {
  const attribute =
    opType === 'Gemm'
      ? [create(AttributeProtoSchema, { name: 'transB', type: AttributeProto_AttributeType.INT, i: 0n })]
      : [];
  return create(NodeProtoSchema, { opType, input, output, name, attribute });
}

function valueInfo(name: string, elemType: TensorProto_DataType, shape: (number | string)[]): ValueInfoProto {
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
function floatInitializer(name: string, dims: number[], values: Float32Array): TensorProto {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: TensorProto_DataType.FLOAT,
    rawData: raw,
  });
}
