/**
 * Writes the example MLP (256→1024→1024→10, fp32, fixed seed): the model where dynamic batching
 * pays off, used by examples/models/mlp and the benchmarks. The fixed seed makes every checkout
 * produce the same bytes. CLI: `node dist/scripts/generate-mlp.js [outFile]`, by default
 * examples/models/mlp/1/model.onnx under the repository root.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildMlpModel, type MlpSpec } from './onnx-builder.js';

export const EXAMPLE_MLP: MlpSpec = { inputSize: 256, hiddenSizes: [1024, 1024], outputSize: 10, seed: 20240601 };

/** Compiled to dist/scripts/, so the repository root is two folders up. */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const DEFAULT_MLP_PATH = join(repoRoot, 'examples', 'models', 'mlp', '1', 'model.onnx');

export async function generateMlp(outFile: string = DEFAULT_MLP_PATH): Promise<string> {
  const target = resolve(outFile);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, buildMlpModel(EXAMPLE_MLP));
  return target;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const written = await generateMlp(process.argv[2] ?? DEFAULT_MLP_PATH);
  process.stdout.write(`wrote ${written}\n`);
}
