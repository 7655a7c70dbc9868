/**
 * Builds the model repository the conformance suite serves: copies of the example models plus
 * `datatypes`, an Identity model with one input per datatype the ONNX runtime carries (every V2
 * datatype but BF16), so Triton's clients can round-trip each one over HTTP and gRPC.
 *
 *   node dist/scripts/conformance-repository.js <target-folder>
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIdentityModel, IDENTITY_OUTPUT_SUFFIX, type IdentityTensorSpec } from './onnx-builder.js';
import { prepareExamples } from './prepare-examples.js';

const examples = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'models');

/** Datatype → input name; every input is [batch, 4] except BYTES, [batch, 2]. */
export const DATATYPE_INPUTS: Record<string, string> = {
  BOOL: 'in_bool',
  INT8: 'in_int8',
  INT16: 'in_int16',
  INT32: 'in_int32',
  INT64: 'in_int64',
  UINT8: 'in_uint8',
  UINT16: 'in_uint16',
  UINT32: 'in_uint32',
  UINT64: 'in_uint64',
  FP16: 'in_fp16',
  FP32: 'in_fp32',
  FP64: 'in_fp64',
  BYTES: 'in_bytes',
};

function configType(datatype: string): string {
  return datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`;
}

export function writeDatatypesModel(repository: string): void {
  const specs: IdentityTensorSpec[] = Object.entries(DATATYPE_INPUTS).map(([datatype, name]) => ({
    name,
    datatype,
    shape: [-1, datatype === 'BYTES' ? 2 : 4],
  }));
  const dir = join(repository, 'datatypes');
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, '1', 'model.onnx'), buildIdentityModel(specs));
  const tensor = (spec: IdentityTensorSpec, suffix: string) => ({ name: spec.name + suffix, data_type: configType(spec.datatype), dims: [spec.shape[1]] });
  const config = {
    name: 'datatypes',
    backend: 'onnxruntime',
    max_batch_size: 8,
    input: specs.map((s) => tensor(s, '')),
    output: specs.map((s) => tensor(s, IDENTITY_OUTPUT_SUFFIX)),
  };
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}

export async function buildConformanceRepository(target: string): Promise<void> {
  await prepareExamples();
  mkdirSync(target, { recursive: true });
  for (const model of ['mlp', 'text_direction', 'vad']) cpSync(join(examples, model), join(target, model), { recursive: true });
  writeDatatypesModel(target);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = process.argv[2];
  if (!target) {
    process.stderr.write('usage: node dist/scripts/conformance-repository.js <target-folder>\n');
    process.exit(2);
  }
  await buildConformanceRepository(target);
}
