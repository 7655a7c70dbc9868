/**
 * The V2 gRPC service of a real `modelport serve` process on the example models, driven by a plain
 * @grpc/grpc-js client: every RPC, raw and typed tensors against in-process onnxruntime and the
 * REST answer, a stream that interleaves models and survives a failed request, health and
 * reflection, and bad messages answered INVALID_ARGUMENT / RESOURCE_EXHAUSTED after which the
 * server keeps serving.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { credentials, loadPackageDefinition, status as Status, type Client, type ClientDuplexStream, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { float32From, healthClient, inferenceClient, rawBytes, type GrpcTestClient } from '../fixtures/grpc-client.js';
import { assertClose, referenceRun } from '../fixtures/reference-model.js';
import { examplesDir, repoRoot, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { float32Bytes, postBinary, randomFloats } from '../fixtures/v2-client.js';

let server: ServerProcess;
let client: GrpcTestClient;
const mlpPath = join(examplesDir, 'mlp', '1', 'model.onnx');

before(async () => {
  await prepareExamples();
  server = await startServer(['--model-repository', examplesDir]);
  client = inferenceClient(server.grpcAddress);
});
after(async () => {
  client.close();
  assert.equal(await server.stop(), 0);
});

interface InferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: Array<{ name: string; datatype: string; shape: string[] }>;
  raw_output_contents: Buffer[];
}

function mlpRequest(values: Float32Array, batch: number, extra: object = {}) {
  return {
    model_name: 'mlp',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 256] }],
    raw_input_contents: [rawBytes(values)],
    ...extra,
  };
}

function vadRequest(id: string) {
  return {
    model_name: 'vad',
    id,
    inputs: [
      { name: 'input', datatype: 'FP32', shape: [1, 512] },
      { name: 'state', datatype: 'FP32', shape: [2, 1, 128] },
      { name: 'sr', datatype: 'INT64', shape: [] },
    ],
    raw_input_contents: [rawBytes(randomFloats(512, 3)), rawBytes(new Float32Array(256)), rawBytes(BigInt64Array.of(16000n))],
  };
}

async function rejectsWith(promise: Promise<unknown>, code: Status, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: ServiceError) => {
    assert.equal(error.code, code, `status ${Status[error.code]}: ${error.details}`);
    assert.match(error.details, pattern);
    return true;
  });
}

async function assertStillServing(target: GrpcTestClient = client): Promise<void> {
  const response = await target.unary<InferResponse>('ModelInfer', mlpRequest(randomFloats(256, 99), 1));
  assert.equal(response.raw_output_contents[0]!.byteLength, 40);
}

describe('health and metadata RPCs', () => {
  test('ServerLive, ServerReady and ServerMetadata', async () => {
    assert.deepEqual(await client.unary('ServerLive'), { live: true });
    assert.deepEqual(await client.unary('ServerReady'), { ready: true });
    const metadata = await client.unary<{ name: string; version: string; extensions: string[] }>('ServerMetadata');
    assert.equal(metadata.name, 'modelport');
    assert.match(metadata.version, /^\d+\.\d+\.\d+/);
    assert.ok(metadata.extensions.includes('statistics'));
  });

  test('ModelReady: true for a served model, NOT_FOUND-style error for an unknown one', async () => {
    assert.deepEqual(await client.unary('ModelReady', { name: 'mlp' }), { ready: true });
    assert.deepEqual(await client.unary('ModelReady', { name: 'mlp', version: '1' }), { ready: true });
    await rejectsWith(client.unary('ModelReady', { name: 'nope' }), Status.INVALID_ARGUMENT, /unknown model: 'nope'/);
  });

  test('ModelMetadata matches the REST answer, int64 shapes included', async () => {
    const metadata = await client.unary('ModelMetadata', { name: 'mlp' });
    assert.deepEqual(metadata, {
      name: 'mlp',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '256'] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: ['-1', '10'] }],
    });
    const rest = (await (await fetch(`${server.url}/v2/models/vad`)).json()) as { inputs: Array<{ shape: number[] }> };
    const vad = await client.unary<{ inputs: Array<{ shape: string[] }> }>('ModelMetadata', { name: 'vad', version: '1' });
    assert.deepEqual(vad.inputs.map((i) => i.shape.map(Number)), rest.inputs.map((i) => i.shape));
  });

  test('ModelConfig carries the configuration as Triton\'s ModelConfig message', async () => {
    const { config } = await client.unary<{ config: Record<string, unknown> }>('ModelConfig', { name: 'text_direction' });
    assert.equal(config.name, 'text_direction');
    assert.equal(config.max_batch_size, 64);
    assert.equal(config.scheduling_choice, 'dynamic_batching');
    const input = (config.input as Array<Record<string, unknown>>)[0]!;
    assert.equal(input.data_type, 'TYPE_FP32');
    assert.deepEqual(input.dims, ['3', '48', '192']);
    const group = (config.instance_group as Array<Record<string, unknown>>)[0]!;
    assert.equal(group.kind, 'KIND_CPU');
    const queue = (config.dynamic_batching as { default_queue_policy: Record<string, unknown> }).default_queue_policy;
    assert.equal(queue.max_queue_size, 1024);
    assert.equal(queue.allow_timeout_override, true);
    // vad's warm-up sample, oneof sources and all.
    const vad = (await client.unary<{ config: { model_warmup: Array<{ batch_size: number; inputs: Record<string, Record<string, unknown>> }> } }>('ModelConfig', { name: 'vad' })).config;
    const [sample] = vad.model_warmup;
    assert.equal(sample!.batch_size, 1);
    assert.deepEqual(sample!.inputs.sr, { data_type: 'TYPE_INT64', dims: [], input_data_file: 'sr_16000', input_data_type: 'input_data_file' });
    assert.equal(sample!.inputs.input!.zero_data, true);
  });

  test('ModelStatistics counts gRPC inferences', async () => {
    const count = async () => {
      const stats = await client.unary<{ model_stats: Array<{ version: string; inference_count: string; inference_stats: { success: { count: string } } }> }>(
        'ModelStatistics',
        { name: 'mlp' },
      );
      assert.equal(stats.model_stats[0]!.version, '1');
      return Number(stats.model_stats[0]!.inference_stats.success.count);
    };
    const before = await count();
    await client.unary('ModelInfer', mlpRequest(randomFloats(512, 1), 2));
    assert.equal(await count(), before + 1);
    const all = await client.unary<{ model_stats: unknown[] }>('ModelStatistics', {});
    assert.equal(all.model_stats.length, 3);
  });

  test('RepositoryIndex lists every model version with its state', async () => {
    const index = await client.unary<{ models: Array<{ name: string; version: string; state: string }> }>('RepositoryIndex', { ready: true });
    assert.deepEqual(index.models.map((m) => `${m.name}/${m.version}/${m.state}`).sort(), ['mlp/1/READY', 'text_direction/1/READY', 'vad/1/READY']);
    await rejectsWith(client.unary('RepositoryIndex', { repository_name: 'other' }), Status.INVALID_ARGUMENT, /repository_name 'other'/);
  });

  test('RepositoryModelLoad outside explicit mode is UNIMPLEMENTED, as over REST', async () => {
    await rejectsWith(client.unary('RepositoryModelLoad', { model_name: 'mlp' }), Status.UNIMPLEMENTED, /explicit/);
  });

  test('shared memory RPCs answer UNIMPLEMENTED', async () => {
    await rejectsWith(client.unary('SystemSharedMemoryStatus', {}), Status.UNIMPLEMENTED, /shared memory/);
    await rejectsWith(client.unary('CudaSharedMemoryRegister', { name: 'x' }), Status.UNIMPLEMENTED, /shared memory/);
  });
});

describe('ModelInfer', () => {
  test('raw inputs give in-process onnxruntime results and the same values as REST', async () => {
    const values = randomFloats(3 * 256, 7);
    const response = await client.unary<InferResponse>('ModelInfer', mlpRequest(values, 3, { id: 'r-1' }));
    assert.equal(response.id, 'r-1');
    assert.equal(response.model_name, 'mlp');
    assert.equal(response.model_version, '1');
    assert.deepEqual(response.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })), [{ name: 'output', datatype: 'FP32', shape: ['3', '10'] }]);
    const expected = await referenceRun(mlpPath, { input: { type: 'float32', data: values, dims: [3, 256] } });
    assertClose(float32From(response.raw_output_contents[0]!), expected.output!);

    const rest = await postBinary(`${server.url}/v2/models/mlp/infer`, [{ name: 'input', datatype: 'FP32', shape: [3, 256], bytes: float32Bytes(values) }]);
    assert.equal(rest.status, 200);
    assertClose(float32From(response.raw_output_contents[0]!), rest.json.outputs[0]!.data as number[], 0, 'gRPC vs REST');
  });

  test('typed contents answer the same as raw contents', async () => {
    const values = randomFloats(256, 8);
    const raw = await client.unary<InferResponse>('ModelInfer', mlpRequest(values, 1));
    const typed = await client.unary<InferResponse>('ModelInfer', {
      model_name: 'mlp',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], contents: { fp32_contents: Array.from(values) } }],
    });
    assert.deepEqual(typed.raw_output_contents, raw.raw_output_contents);
  });

  test('a model with an int64 scalar input and two outputs, with a requested-output subset', async () => {
    const both = await client.unary<InferResponse>('ModelInfer', vadRequest('v'));
    assert.deepEqual(both.outputs.map((o) => o.name).sort(), ['output', 'stateN']);
    assert.equal(both.raw_output_contents.length, 2);
    const subset = await client.unary<InferResponse>('ModelInfer', { ...vadRequest('v2'), outputs: [{ name: 'stateN' }] });
    assert.deepEqual(subset.outputs.map((o) => [o.name, o.shape]), [['stateN', ['2', '1', '128']]]);
    assert.equal(subset.raw_output_contents[0]!.byteLength, 2 * 128 * 4);
  });

  test('request parameters: priority and timeout as tritonclient sends them', async () => {
    const response = await client.unary<InferResponse>(
      'ModelInfer',
      mlpRequest(randomFloats(256, 2), 1, { parameters: { priority: { uint64_param: 0 }, timeout: { int64_param: 5_000_000 } } }),
    );
    assert.equal(response.raw_output_contents.length, 1);
    await rejectsWith(
      client.unary('ModelInfer', mlpRequest(randomFloats(256, 2), 1, { parameters: { triton_x: { bool_param: true } } })),
      Status.INVALID_ARGUMENT,
      /reserved/,
    );
  });
});

describe('ModelStreamInfer', () => {
  test('interleaves models, answers a failed request on the stream and keeps it open', async () => {
    const call = (client.raw as unknown as { ModelStreamInfer(): ClientDuplexStream<object, { error_message: string; infer_response: InferResponse | null }> }).ModelStreamInfer();
    const answers: Array<{ error_message: string; infer_response: InferResponse | null }> = [];
    call.on('data', (answer: { error_message: string; infer_response: InferResponse | null }) => answers.push(answer));
    const ended = new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    const text = randomFloats(3 * 48 * 192, 5);
    call.write(mlpRequest(randomFloats(256, 4), 1, { id: 'a' }));
    call.write(vadRequest('b'));
    call.write({ ...mlpRequest(randomFloats(256, 4), 1), id: 'c', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 255] }] });
    call.write({ model_name: 'text_direction', id: 'd', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192] }], raw_input_contents: [rawBytes(text)] });
    call.write(mlpRequest(randomFloats(512, 6), 2, { id: 'e' }));
    call.end();
    await ended;

    assert.equal(answers.length, 5);
    const byId = new Map(answers.map((a) => [a.infer_response?.id ?? '', a]));
    assert.equal(byId.get('a')!.error_message, '');
    assert.equal(byId.get('a')!.infer_response!.model_name, 'mlp');
    assert.equal(byId.get('b')!.infer_response!.model_name, 'vad');
    assert.match(byId.get('c')!.error_message, /input byte size mismatch for input 'input'|shape/);
    assert.equal(byId.get('d')!.infer_response!.model_name, 'text_direction');
    assert.deepEqual(byId.get('d')!.infer_response!.outputs[0]!.shape, ['1', '2']);
    assert.deepEqual(byId.get('e')!.infer_response!.outputs[0]!.shape, ['2', '10']);
  });
});

describe('health and reflection', () => {
  test('grpc.health.v1: "" while live, the service while ready, each model, NOT_FOUND otherwise', async () => {
    const health = healthClient(server.grpcAddress);
    try {
      assert.deepEqual(await health.unary('Check', { service: '' }), { status: 'SERVING' });
      assert.deepEqual(await health.unary('Check', { service: 'inference.GRPCInferenceService' }), { status: 'SERVING' });
      assert.deepEqual(await health.unary('Check', { service: 'mlp' }), { status: 'SERVING' });
      await rejectsWith(health.unary('Check', { service: 'nope' }), Status.NOT_FOUND, /unknown service 'nope'/);
      const watch = (health.raw as unknown as { Watch(request: object): ClientReadableStream<{ status: string }> }).Watch({ service: 'vad' });
      const first = await new Promise<{ status: string }>((resolve, reject) => {
        watch.once('data', resolve);
        watch.once('error', reject);
      });
      assert.deepEqual(first, { status: 'SERVING' });
      watch.cancel();
    } finally {
      health.close();
    }
  });

  test('server reflection lists the services, so grpcurl needs no .proto files', async () => {
    const definition = loadSync('grpc/reflection/v1/reflection.proto', {
      includeDirs: [join(repoRoot, 'node_modules', '@grpc', 'reflection', 'build', 'proto')],
      keepCase: true,
    });
    const pkg = loadPackageDefinition(definition) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client } } };
    };
    const reflection = new pkg.grpc.reflection.v1.ServerReflection(server.grpcAddress, credentials.createInsecure());
    const call = (reflection as unknown as { ServerReflectionInfo(): ClientDuplexStream<object, { list_services_response?: { service: Array<{ name: string }> } }> }).ServerReflectionInfo();
    const answer = new Promise<{ list_services_response?: { service: Array<{ name: string }> } }>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
    });
    call.write({ list_services: '' });
    const services = (await answer).list_services_response!.service.map((s) => s.name);
    call.end();
    reflection.close();
    assert.ok(services.includes('inference.GRPCInferenceService'), services.join(','));
    assert.ok(services.includes('grpc.health.v1.Health'), services.join(','));
  });
});

describe('bad messages', () => {
  test('raw_input_contents of the wrong length is INVALID_ARGUMENT naming the input', async () => {
    await rejectsWith(client.unary('ModelInfer', mlpRequest(randomFloats(255, 1), 1)), Status.INVALID_ARGUMENT, /input 'input'.*needs 1024 bytes, got 1020/);
    await rejectsWith(
      client.unary('ModelInfer', { ...mlpRequest(randomFloats(256, 1), 1), raw_input_contents: [] , inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256] }] }),
      Status.INVALID_ARGUMENT,
      /input 'input' has no data/,
    );
    await rejectsWith(
      client.unary('ModelInfer', { ...mlpRequest(randomFloats(256, 1), 1), raw_input_contents: [Buffer.alloc(1024), Buffer.alloc(4)] }),
      Status.INVALID_ARGUMENT,
      /raw_input_contents has 2 entries but the request has 1 inputs/,
    );
    await assertStillServing();
  });

  test('an unknown datatype and a negative dimension are INVALID_ARGUMENT', async () => {
    await rejectsWith(
      client.unary('ModelInfer', { ...mlpRequest(randomFloats(256, 1), 1), inputs: [{ name: 'input', datatype: 'FLOAT', shape: [1, 256] }] }),
      Status.INVALID_ARGUMENT,
      /datatype "FLOAT" is not a V2 datatype/,
    );
    await rejectsWith(
      client.unary('ModelInfer', { ...mlpRequest(randomFloats(256, 1), 1), inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 256] }] }),
      Status.INVALID_ARGUMENT,
      /shape dimension 0 is -1; expected a non-negative integer/,
    );
    await rejectsWith(
      client.unary('ModelInfer', { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], contents: { int_contents: [1] } }] }),
      Status.INVALID_ARGUMENT,
      /contents.int_contents is set/,
    );
    await assertStillServing();
  });

  test('bytes that are not a protobuf message are INVALID_ARGUMENT, not INTERNAL', async () => {
    const answer = new Promise<ServiceError | null>((resolve) => {
      client.raw.makeUnaryRequest(
        '/inference.GRPCInferenceService/ModelInfer',
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        Buffer.from([0x2a, 0x05, 0x0a]), // an input declared 5 bytes long, 1 byte follows
        (error) => resolve(error),
      );
    });
    const error = await answer;
    assert.equal(error?.code, Status.INVALID_ARGUMENT, error?.details);
    assert.match(error!.details, /not a valid protobuf message/);
    await assertStillServing();
  });

  test('a message over the size limit is RESOURCE_EXHAUSTED and the server keeps serving', async () => {
    const small = await startServer(['--model-repository', examplesDir, '--http-body-limit', '65536']);
    const limited = inferenceClient(small.grpcAddress);
    try {
      await rejectsWith(limited.unary('ModelInfer', mlpRequest(randomFloats(256 * 128, 1), 128)), Status.RESOURCE_EXHAUSTED, /larger than max/);
      await assertStillServing(limited);
    } finally {
      limited.close();
      assert.equal(await small.stop(), 0);
    }
  });
});

describe('explicit model control over gRPC', () => {
  test('RepositoryModelLoad and RepositoryModelUnload change what serves', async () => {
    const explicit = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit']);
    const control = inferenceClient(explicit.grpcAddress);
    try {
      await rejectsWith(control.unary('ModelInfer', mlpRequest(randomFloats(256, 1), 1)), Status.NOT_FOUND, /'mlp' has no available versions/);
      await control.unary('RepositoryModelLoad', { model_name: 'mlp' });
      assert.deepEqual(await control.unary('ModelReady', { name: 'mlp' }), { ready: true });
      await assertStillServing(control);
      await rejectsWith(
        control.unary('RepositoryModelLoad', { model_name: 'mlp', parameters: { 'file:1/model.onnx': { bytes_param: Buffer.from('x') } } }),
        Status.INVALID_ARGUMENT,
        /not supported/,
      );
      await control.unary('RepositoryModelUnload', { model_name: 'mlp' });
      assert.deepEqual(await control.unary('ModelReady', { name: 'mlp' }), { ready: false });
    } finally {
      control.close();
      assert.equal(await explicit.stop(), 0);
    }
  });
});
