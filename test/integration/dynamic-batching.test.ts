/**
 * Dynamic batching through the real server: 64 concurrent single-item requests to `mlp` run in
 * fewer model executions than requests, and each response equals the result of running that item
 * alone in-process.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { assertClose, referenceRun } from '../fixtures/reference-model.js';
import { float32Bytes, getJson, postBinary, randomFloats } from '../fixtures/v2-client.js';

let server: ServerProcess;

before(async () => {
  await prepareExamples();
  server = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp']);
});
after(async () => {
  await server.stop();
});

test('64 concurrent requests execute in fewer batches, each equal to its unbatched result', async () => {
  const count = 64;
  const inputs = Array.from({ length: count }, (_, i) => randomFloats(256, 1000 + i));
  const responses = await Promise.all(
    inputs.map((input) => postBinary(`${server.url}/v2/models/mlp/infer`, [{ name: 'input', datatype: 'FP32', shape: [1, 256], bytes: float32Bytes(input) }], [{ name: 'output' }])),
  );
  const stats = await getJson(`${server.url}/v2/models/mlp/versions/1/stats`);
  const entry = (stats.json!.model_stats as Array<{ inference_count: number; execution_count: number; batch_stats: Array<{ batch_size: number }> }>)[0]!;
  assert.equal(entry.inference_count, count);
  assert.ok(entry.execution_count < entry.inference_count, `execution_count ${entry.execution_count} should be below inference_count ${entry.inference_count}`);
  assert.ok(entry.batch_stats.some((b) => b.batch_size > 1));

  const modelPath = join(examplesDir, 'mlp', '1', 'model.onnx');
  for (let i = 0; i < count; i++) {
    const response = responses[i]!;
    assert.equal(response.status, 200);
    assert.deepEqual(response.json.outputs[0]!.shape, [1, 10]);
    const got = new Float32Array(response.binary.buffer.slice(response.binary.byteOffset, response.binary.byteOffset + 40));
    const alone = await referenceRun(modelPath, { input: { type: 'float32', data: inputs[i]!, dims: [1, 256] } });
    // Batched GEMM may sum in another order than batch-1 GEMM: equal up to float rounding.
    assertClose(got, alone.output!, 1e-5, `response ${i}`);
  }
});
