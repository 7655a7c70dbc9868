/**
 * The V2 REST API of a real `modelport serve` process on the example models: every endpoint,
 * JSON and binary tensors (byte-exact), inference results against in-process onnxruntime, and
 * the 4xx answers to bad input after which the server keeps serving.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { assertClose, referenceRun } from '../fixtures/reference-model.js';
import { float32Bytes, getJson, postBinary, postJson, randomFloats } from '../fixtures/v2-client.js';

let server: ServerProcess;
const mlpPath = join(examplesDir, 'mlp', '1', 'model.onnx');

before(async () => {
  await prepareExamples();
  server = await startServer(['--model-repository', examplesDir]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

describe('health and metadata', () => {
  test('live and ready answer 200 with no body', async () => {
    for (const path of ['/v2/health/live', '/v2/health/ready']) {
      const response = await fetch(server.url + path);
      assert.equal(response.status, 200, path);
      assert.equal(await response.text(), '');
    }
  });

  test('server metadata lists the extensions Modelport implements', async () => {
    const { status, json } = await getJson(`${server.url}/v2`);
    assert.equal(status, 200);
    assert.equal(json!.name, 'modelport');
    assert.match(String(json!.version), /^\d+\.\d+\.\d+/);
    for (const ext of ['binary_tensor_data', 'model_configuration', 'model_repository', 'statistics']) {
      assert.ok((json!.extensions as string[]).includes(ext), ext);
    }
    assert.ok(!(json!.extensions as string[]).includes('system_shared_memory'));
  });

  test('model metadata carries a leading -1 for batching models, not for others', async () => {
    const mlp = await getJson(`${server.url}/v2/models/mlp`);
    assert.equal(mlp.status, 200);
    assert.deepEqual(mlp.json, {
      name: 'mlp',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 256] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 10] }],
    });
    const versioned = await getJson(`${server.url}/v2/models/mlp/versions/1`);
    assert.deepEqual(versioned.json, mlp.json);
    const vad = await getJson(`${server.url}/v2/models/vad`);
    assert.deepEqual((vad.json!.inputs as unknown[])[2], { name: 'sr', datatype: 'INT64', shape: [] });
  });

  test('model ready per model and per version', async () => {
    assert.equal((await fetch(`${server.url}/v2/models/mlp/ready`)).status, 200);
    assert.equal((await fetch(`${server.url}/v2/models/mlp/versions/1/ready`)).status, 200);
    const unknownVersion = await fetch(`${server.url}/v2/models/mlp/versions/7/ready`);
    assert.equal(unknownVersion.status, 400);
  });

  test('model config in Triton JSON form', async () => {
    const { status, json } = await getJson(`${server.url}/v2/models/mlp/config`);
    assert.equal(status, 200);
    assert.equal(json!.name, 'mlp');
    assert.equal(json!.max_batch_size, 128);
    assert.equal(json!.backend, 'onnxruntime');
    assert.equal(json!.platform, 'onnxruntime_onnx');
    assert.deepEqual(json!.version_policy, { latest: { num_versions: 1 } });
    assert.deepEqual((json!.input as Array<Record<string, unknown>>)[0]!.dims, [256]);
    assert.equal((json!.input as Array<Record<string, unknown>>)[0]!.data_type, 'TYPE_FP32');
    assert.ok(json!.dynamic_batching);
    const yamlModel = await getJson(`${server.url}/v2/models/text_direction/versions/1/config`);
    assert.deepEqual((yamlModel.json!.input as Array<Record<string, unknown>>)[0]!.dims, [3, 48, 192]);
  });

  test('repository index lists every model with its state', async () => {
    const { status, json } = await postJson(`${server.url}/v2/repository/index`, {});
    assert.equal(status, 200);
    assert.deepEqual(json, [
      { name: 'mlp', version: '1', state: 'READY' },
      { name: 'text_direction', version: '1', state: 'READY' },
      { name: 'vad', version: '1', state: 'READY' },
    ]);
    const ready = await postJson(`${server.url}/v2/repository/index`, { ready: true });
    assert.equal((ready.json as unknown as unknown[]).length, 3);
  });
});

describe('inference', () => {
  test('mlp over JSON equals in-process onnxruntime', async () => {
    const input = randomFloats(2 * 256, 7);
    const { status, json } = await postJson(`${server.url}/v2/models/mlp/infer`, {
      id: 'req-1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 256], data: Array.from(input) }],
    });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json!.id, 'req-1');
    assert.equal(json!.model_name, 'mlp');
    assert.equal(json!.model_version, '1');
    const [output] = json!.outputs as Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
    assert.equal(output!.name, 'output');
    assert.deepEqual(output!.shape, [2, 10]);
    const reference = await referenceRun(mlpPath, { input: { type: 'float32', data: input, dims: [2, 256] } });
    assertClose(output!.data, reference.output!, 1e-5, 'mlp output');
  });

  test('binary request and response are byte-exact', async () => {
    const input = randomFloats(3 * 256, 11);
    const result = await postBinary(`${server.url}/v2/models/mlp/versions/1/infer`, [{ name: 'input', datatype: 'FP32', shape: [3, 256], bytes: float32Bytes(input) }], [{ name: 'output' }]);
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('content-type'), 'application/octet-stream');
    const out = result.json.outputs[0]!;
    assert.deepEqual(out.shape, [3, 10]);
    assert.equal(out.parameters!.binary_data_size, 3 * 10 * 4);
    assert.equal(out.data, undefined);
    assert.equal(result.binary.length, 120);
    const reference = await referenceRun(mlpPath, { input: { type: 'float32', data: input, dims: [3, 256] } });
    const asFloats = new Float32Array(result.binary.buffer.slice(result.binary.byteOffset, result.binary.byteOffset + 120));
    assertClose(asFloats, reference.output!, 1e-5, 'binary output');
    // A JSON answer for the same request carries the same numbers the binary bytes encode.
    const json = await postBinary(`${server.url}/v2/models/mlp/infer`, [{ name: 'input', datatype: 'FP32', shape: [3, 256], bytes: float32Bytes(input) }], [{ name: 'output', binary: false }]);
    assert.equal(json.headers.get('content-type'), 'application/json');
    assert.deepEqual(json.json.outputs[0]!.data, Array.from(asFloats));
  });

  test('binary_data_output applies to outputs not listed', async () => {
    const input = randomFloats(256, 3);
    const result = await postBinary(`${server.url}/v2/models/mlp/infer`, [{ name: 'input', datatype: 'FP32', shape: [1, 256], bytes: float32Bytes(input) }], [], { parameters: { binary_data_output: true } });
    assert.equal(result.status, 200);
    assert.equal(result.json.outputs[0]!.parameters!.binary_data_size, 40);
  });

  test('text_direction classifies a batch of crops', async () => {
    const input = randomFloats(2 * 3 * 48 * 192, 5);
    const result = await postBinary(`${server.url}/v2/models/text_direction/infer`, [{ name: 'x', datatype: 'FP32', shape: [2, 3, 48, 192], bytes: float32Bytes(input) }]);
    assert.equal(result.status, 200, JSON.stringify(result.json));
    const out = result.json.outputs[0]!;
    assert.equal(out.name, 'softmax_0.tmp_0');
    assert.deepEqual(out.shape, [2, 2]);
  });

  test('vad: a stateful model with an int64 scalar input', async () => {
    const { status, json } = await postJson(`${server.url}/v2/models/vad/infer`, {
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [1, 512], data: Array.from(randomFloats(512, 9)) },
        { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: new Array(256).fill(0) },
        { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
      ],
    });
    assert.equal(status, 200, JSON.stringify(json));
    const outputs = json!.outputs as Array<{ name: string; shape: number[]; data: number[] }>;
    assert.deepEqual(outputs.map((o) => [o.name, o.shape]), [['output', [1, 1]], ['stateN', [2, 1, 128]]]);
    assert.ok(outputs[0]!.data[0]! >= 0 && outputs[0]!.data[0]! <= 1);
  });

  test('statistics count requests and executions as perf_analyzer reads them', async () => {
    const { status, json } = await getJson(`${server.url}/v2/models/mlp/versions/1/stats`);
    assert.equal(status, 200);
    const [entry] = json!.model_stats as Array<Record<string, any>>;
    assert.equal(entry!.name, 'mlp');
    assert.equal(entry!.version, '1');
    assert.ok(entry!.inference_count >= 7);
    assert.ok(entry!.execution_count >= 4);
    for (const key of ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output', 'cache_hit', 'cache_miss']) {
      assert.ok(Number.isInteger(entry!.inference_stats[key].count), key);
      assert.ok(Number.isInteger(entry!.inference_stats[key].ns), key);
    }
    assert.equal(entry!.inference_stats.queue.count, entry!.inference_stats.success.count);
    const all = await getJson(`${server.url}/v2/models/stats`);
    assert.equal((all.json!.model_stats as unknown[]).length, 3);
  });
});

describe('bad input gets a 4xx naming the problem, and the server keeps serving', () => {
  const mlpInfer = () => `${server.url}/v2/models/mlp/infer`;
  const good = () => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: new Array(256).fill(0.5) }] });
  const cases: Array<[string, () => Promise<{ status: number; text: string }>, number, RegExp]> = [
    ['malformed JSON', () => postJson(mlpInfer(), '{"inputs": [', {}), 400, /JSON|parse|Unexpected/i],
    ['unknown model', () => postJson(`${server.url}/v2/models/nope/infer`, good()), 400, /Request for unknown model: 'nope' is not found/],
    ['unknown version', () => postJson(`${server.url}/v2/models/mlp/versions/9/infer`, good()), 404, /version 9 is not found/],
    ['wrong datatype', () => postJson(mlpInfer(), { inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 256], data: new Array(256).fill(0) }] }), 400, /datatype FP64, expected FP32/],
    ['wrong shape', () => postJson(mlpInfer(), { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 255], data: new Array(255).fill(0) }] }), 400, /Expected \[-1,256\], got \[1,255\]/],
    ['data length differs from shape', () => postJson(mlpInfer(), { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: new Array(100).fill(0) }] }), 400, /256/],
    ['missing input', () => postJson(mlpInfer(), { inputs: [] }), 400, /missing input 'input'/],
    ['extra input', () => postJson(mlpInfer(), { inputs: [...good().inputs, { name: 'other', datatype: 'FP32', shape: [1], data: [1] }] }), 400, /unexpected inference input 'other'/],
    ['unknown requested output', () => postJson(mlpInfer(), { ...good(), outputs: [{ name: 'logits' }] }), 400, /unexpected inference output 'logits'/],
    ['huge declared shape', () => postJson(mlpInfer(), { inputs: [{ name: 'input', datatype: 'FP32', shape: [100000000, 256], data: [1] }] }), 413, /has a dimension of 100000000 .*maxTensorElements/],
    ['negative dims', () => postJson(mlpInfer(), { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 256], data: [1] }] }), 400, /./],
    ['batch above max_batch_size', () => postJson(mlpInfer(), { inputs: [{ name: 'input', datatype: 'FP32', shape: [129, 256], data: new Array(129 * 256).fill(0) }] }), 400, /batch-size must be <= 128/],
    [
      'Inference-Header-Content-Length larger than the body',
      async () => {
        const response = await fetch(mlpInfer(), { method: 'POST', headers: { 'inference-header-content-length': '5000' }, body: JSON.stringify(good()) });
        return { status: response.status, text: await response.text() };
      },
      400,
      /Inference-Header-Content-Length/i,
    ],
    [
      'binary_data_size beyond the body',
      async () => {
        const header = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], parameters: { binary_data_size: 1024 } }] });
        const response = await fetch(mlpInfer(), { method: 'POST', headers: { 'inference-header-content-length': String(header.length) }, body: Buffer.concat([Buffer.from(header), Buffer.alloc(10)]) });
        return { status: response.status, text: await response.text() };
      },
      400,
      /./,
    ],
  ];
  for (const [name, send, status, message] of cases) {
    test(name, async () => {
      const response = await send();
      assert.equal(response.status, status, response.text);
      const body = JSON.parse(response.text) as { error: string };
      assert.match(body.error, message);
    });
  }

  test('a body over the configured limit is refused with 413', async () => {
    const limited = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp', '--http-body-limit', '4096']);
    try {
      const response = await postJson(`${limited.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [8, 256], data: new Array(8 * 256).fill(0.25) }] });
      assert.equal(response.status, 413);
      assert.match((response.json as { error: string }).error, /limit/);
      const after = await postJson(`${limited.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: new Array(256).fill(0) }] });
      assert.equal(after.status, 200);
    } finally {
      await limited.stop();
    }
  });

  test('unknown path 404, wrong method 405, non-numeric version 404', async () => {
    const notFound = await getJson(`${server.url}/v2/nothing/here`);
    assert.equal(notFound.status, 404);
    assert.deepEqual(notFound.json, { error: 'Not Found' });
    const wrongMethod = await fetch(`${server.url}/v2/models/mlp/infer`);
    assert.equal(wrongMethod.status, 405);
    const badVersion = await getJson(`${server.url}/v2/models/mlp/versions/abc`);
    assert.equal(badVersion.status, 404);
  });

  test('still serving after all of that', async () => {
    const { status } = await postJson(mlpInfer(), good());
    assert.equal(status, 200);
    assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
  });
});
