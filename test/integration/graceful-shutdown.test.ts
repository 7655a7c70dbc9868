/**
 * SIGTERM while requests are in flight, over HTTP and gRPC: the server stops accepting, answers
 * every request it already has, ends open streams, unloads its models and exits 0.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { inferenceClient, rawBytes } from '../fixtures/grpc-client.js';
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

test('gRPC calls and an open stream in flight at SIGTERM are answered; the stream ends; exit 0', async () => {
  const server = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'text_direction']);
  const client = inferenceClient(server.grpcAddress);
  const input = rawBytes(randomFloats(8 * 3 * 48 * 192, 2));
  const request = { model_name: 'text_direction', inputs: [{ name: 'x', datatype: 'FP32', shape: [8, 3, 48, 192] }], raw_input_contents: [input] };
  // The server sends a unary call's initial metadata (its x-request-id) as soon as the handler
  // starts, so its arrival proves the call is in flight on the server, not still on the wire.
  const arrived: Array<Promise<void>> = [];
  const unary = Array.from({ length: 16 }, () =>
    new Promise<{ raw_output_contents: Buffer[] }>((resolve, reject) => {
      const call = (client.raw as unknown as Record<string, (r: object, cb: (e: Error | null, v: unknown) => void) => { once(e: 'metadata', cb: () => void): void }>).ModelInfer!(
        request,
        (error, value) => (error ? reject(error) : resolve(value as { raw_output_contents: Buffer[] })),
      );
      arrived.push(new Promise((ok) => call.once('metadata', () => ok())));
    }),
  );
  const stream = (client.raw as unknown as { ModelStreamInfer(): ClientDuplexStream<object, { error_message: string }> }).ModelStreamInfer();
  const streamed: Array<{ error_message: string }> = [];
  stream.on('data', (answer: { error_message: string }) => streamed.push(answer));
  const streamEnded = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (let i = 0; i < 8; i++) stream.write({ ...request, id: `s${i}` });
  // Signal once every unary call has reached a handler and the stream has answered once.
  await Promise.all([...arrived, new Promise((resolve) => stream.once('data', resolve))]);
  const exit = server.stop('SIGTERM');
  const results = await Promise.allSettled(unary);
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value.raw_output_contents.length : String(r.reason))), new Array(16).fill(1));
  // The client never half-closes: shutdown ends the stream once its eight requests are answered.
  await streamEnded;
  assert.deepEqual(streamed.map((a) => a.error_message), new Array(8).fill(''));
  client.close();
  assert.equal(await exit, 0);
});
