/**
 * SIGTERM while requests are in flight: the server stops accepting, answers every request it
 * already has, unloads its models and exits 0.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { examplesDir, startServer } from '../fixtures/server-process.js';
import { float32Bytes, postBinary, randomFloats } from '../fixtures/v2-client.js';

before(async () => {
  await prepareExamples();
});

test('every request in flight at SIGTERM is answered, then the process exits 0', async () => {
  const server = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'text_direction']);
  const input = float32Bytes(randomFloats(8 * 3 * 48 * 192, 1));
  const count = 48;
  let answered = 0;
  const pending = Array.from({ length: count }, () =>
    postBinary(`${server.url}/v2/models/text_direction/infer`, [{ name: 'x', datatype: 'FP32', shape: [8, 3, 48, 192], bytes: input }]).finally(() => {
      answered += 1;
    }),
  );
  // Let the requests reach the server and queue behind the single instance.
  await new Promise((resolve) => setTimeout(resolve, 150));
  const answeredBeforeSignal = answered;
  const exit = server.stop('SIGTERM');
  const results = await Promise.allSettled(pending);
  const statuses = results.map((r) => (r.status === 'fulfilled' ? r.value.status : String(r.reason)));
  assert.deepEqual(statuses, new Array(count).fill(200));
  assert.ok(answeredBeforeSignal < count, 'some requests were still in flight at SIGTERM');
  assert.equal(await exit, 0);
  assert.ok(server.logs.some((l) => l.msg === 'stopped'));
});
