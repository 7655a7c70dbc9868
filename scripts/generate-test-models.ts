/**
 * Models with exactly the example MLP's signature (input 'input' FP32 [batch, 256], output 'output'
 * FP32 [batch, 10]) that misbehave on purpose, so rollout tests can publish a "new version" that
 * fails, one that is slow, or one that merely differs, and watch canaries, shadows and rollbacks
 * react. CLI: `node dist/scripts/generate-test-models.js <outDir>` writes
 * <outDir>/{faulty,slow,variant}.onnx.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TensorProto_DataType } from 'onnx-buf';
import { EXAMPLE_MLP } from './generate-mlp.js';
import { buildMlpModel, generateMlpLayers, seededRandom } from './onnx-builder.js';
import { appendMlpLayers, emptyGraph, floatTensor, int64Tensor, node, serializeModel, valueInfo } from './onnx-ops.js';

/** Rows whose first feature is above this make the faulty model fail. */
export const FAULTY_THRESHOLD = 0.5;

/** Extra 1024×1024 layers buildSlowMlp adds by default; each costs about one example MLP. */
export const DEFAULT_SLOW_FACTOR = 64;

function signature(): { inputs: ReturnType<typeof valueInfo>[]; outputs: ReturnType<typeof valueInfo>[] } {
  return {
    inputs: [valueInfo('input', TensorProto_DataType.FLOAT, ['batch', EXAMPLE_MLP.inputSize])],
    outputs: [valueInfo('output', TensorProto_DataType.FLOAT, ['batch', EXAMPLE_MLP.outputSize])],
  };
}

/**
 * The example MLP plus a guard that adds 0 to every logit, read by a Gather whose index is
 * (input[:, 0] > 0.5) × 1000 into a one-element tensor. Rows with input[:, 0] ≤ 0.5 gather index 0
 * and get exactly the example MLP's outputs; any other row makes onnxruntime's Gather fail with
 * "indices element out of data bounds" — a genuine run-time error, not a load error, and one that
 * fails the whole batch the row is in. NaN compares false, so it counts as a good row.
 */
export function buildFaultyMlp(): Uint8Array {
  const graph = emptyGraph();
  const logits = appendMlpLayers(graph, generateMlpLayers(EXAMPLE_MLP), 'input', 'logits');
  graph.initializers.push(
    int64Tensor('guard.starts', [1], [0]),
    int64Tensor('guard.ends', [1], [1]),
    int64Tensor('guard.axes', [1], [1]),
    floatTensor('guard.threshold', [], [FAULTY_THRESHOLD]),
    // Far past the end of guard.data whatever broadcasting or clamping an optimiser might try.
    int64Tensor('guard.stride', [], [1000]),
    floatTensor('guard.data', [1], [0]),
  );
  graph.nodes.push(
    node('Slice', ['input', 'guard.starts', 'guard.ends', 'guard.axes'], ['guard.first'], 'guard_slice'),
    node('Greater', ['guard.first', 'guard.threshold'], ['guard.high'], 'guard_greater'),
    node('Cast', ['guard.high'], ['guard.high_i64'], 'guard_cast', { to: BigInt(TensorProto_DataType.INT64) }),
    node('Mul', ['guard.high_i64', 'guard.stride'], ['guard.index'], 'guard_mul'),
    node('Gather', ['guard.data', 'guard.index'], ['guard.value'], 'guard_gather', { axis: 0n }),
    node('Add', [logits, 'guard.value'], ['output'], 'guard_add'),
  );
  const { inputs, outputs } = signature();
  return serializeModel('mlp_faulty', graph, inputs, outputs);
}

/**
 * The example MLP plus a side branch of `factor` extra Gemm+Tanh layers over the last hidden
 * activation, folded back into the logits through an all-zero Gemm: the outputs are exactly the
 * example MLP's, only later. The layers share one weight matrix, which keeps the file small (one
 * extra 4 MiB matrix); Tanh keeps the branch finite however deep it is, so 0 × branch is 0, never
 * NaN. Each layer costs about as much as the whole example MLP at batch 1.
 */
export function buildSlowMlp(factor: number = DEFAULT_SLOW_FACTOR): Uint8Array {
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`buildSlowMlp: factor must be a positive integer, got ${factor}`);
  const layers = generateMlpLayers(EXAMPLE_MLP);
  const hidden = layers[layers.length - 1]!.inputSize;
  const graph = emptyGraph();
  appendMlpLayers(graph, layers, 'input', 'logits');
  // Same Gemm/Relu chain as appendMlpLayers names it: the last hidden activation.
  let current = `fcrelu${layers.length - 2}.out`;

  // std 1.5/sqrt(n): Tanh then sits in its chaotic regime, where activations neither die out to
  // denormals (which would make timing erratic) nor saturate.
  const random = seededRandom(EXAMPLE_MLP.seed ^ 0x5105);
  const scale = 1.5 * Math.sqrt(3 / hidden);
  const weight = new Float32Array(hidden * hidden);
  for (let i = 0; i < weight.length; i++) weight[i] = (random() * 2 - 1) * scale;
  graph.initializers.push(
    floatTensor('slow.weight', [hidden, hidden], weight),
    floatTensor('slow.bias', [hidden], new Float32Array(hidden)),
    floatTensor('slow.zero', [hidden, EXAMPLE_MLP.outputSize], new Float32Array(hidden * EXAMPLE_MLP.outputSize)),
  );
  for (let k = 0; k < factor; k++) {
    graph.nodes.push(
      node('Gemm', [current, 'slow.weight', 'slow.bias'], [`slow${k}.pre`], `slow${k}`, { transB: 0n }),
      node('Tanh', [`slow${k}.pre`], [`slow${k}.out`], `slow_tanh${k}`),
    );
    current = `slow${k}.out`;
  }
  graph.nodes.push(
    node('Gemm', [current, 'slow.zero'], ['slow.folded'], 'slow_fold', { transB: 0n }),
    node('Add', ['logits', 'slow.folded'], ['output'], 'slow_add'),
  );
  const { inputs, outputs } = signature();
  return serializeModel('mlp_slow', graph, inputs, outputs);
}

/**
 * The example MLP's architecture with weights from another seed: a plausible retrained "new
 * version" whose answers differ. The example's own seed gives back the example's exact bytes.
 */
export function buildMlpVariant(seed: number): Uint8Array {
  return buildMlpModel({ ...EXAMPLE_MLP, seed });
}

/** Writes a model file, creating its folders; returns the absolute path. */
export async function writeModel(bytes: Uint8Array, path: string): Promise<string> {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, bytes);
  return target;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2];
  if (outDir === undefined) {
    process.stderr.write('usage: node dist/scripts/generate-test-models.js <outDir>\n');
    process.exit(2);
  }
  for (const [name, bytes] of [
    ['faulty', buildFaultyMlp()],
    ['slow', buildSlowMlp()],
    ['variant', buildMlpVariant(EXAMPLE_MLP.seed + 1)],
  ] as const) {
    process.stdout.write(`wrote ${await writeModel(bytes, join(outDir, `${name}.onnx`))}\n`);
  }
}
