/**
 * One log line per inference request, carrying the id the client sent (x-request-id over HTTP,
 * metadata over gRPC) and the W3C trace id, echoed back to the client; an id is made up when the
 * client sends none.
 */
import assert from 'node:assert/strict';
import { Metadata } from '@grpc/grpc-js';
import { after, before, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { inferenceClient, rawBytes } from '../fixtures/grpc-client.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { binaryInferBody, randomFloats } from '../fixtures/v2-client.js';

let server: ServerProcess;

before(async () => {
  await prepareExamples();
  server = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp', '--request-log-level', 'info']);
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

async function logLine(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 50; i++) {
    const line = server.logs.find((l) => l.msg === 'infer' && predicate(l));
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail('no matching request log line');
}

test('HTTP: the request log line and the response carry the client\'s x-request-id and trace id', async () => {
  const { body, headerLength } = binaryInferBody([{ name: 'input', datatype: 'FP32', shape: [1, 256], bytes: new Uint8Array(randomFloats(256, 1).buffer) }]);
  const response = await fetch(`${server.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: {
      'inference-header-content-length': String(headerLength),
      'x-request-id': 'client-req-42',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    },
    body,
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-request-id'), 'client-req-42');
  const line = await logLine((l) => l.requestId === 'client-req-42');
  assert.equal(line.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(line.model, 'mlp');
  assert.equal(line.version, '1');
  assert.equal(line.protocol, 'http');
  assert.equal(line.outcome, 'ok');
  assert.equal(line.batchSize, 1);
  assert.equal(typeof line.latencyMs, 'number');
  assert.equal(typeof line.queueMs, 'number');
});

test('HTTP: a refused request is logged with its error code, and an id is made when none is sent', async () => {
  const { body, headerLength } = binaryInferBody([{ name: 'input', datatype: 'FP32', shape: [1, 255], bytes: new Uint8Array(randomFloats(255, 1).buffer) }]);
  const response = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'inference-header-content-length': String(headerLength) }, body });
  assert.equal(response.status, 400);
  const id = response.headers.get('x-request-id');
  assert.match(id ?? '', /^[0-9a-f-]{36}$/);
  const line = await logLine((l) => l.requestId === id);
  assert.equal(line.outcome, 'MP_ERR_INPUT_SHAPE');
  assert.match(String(line.error), /input/);
});

test('gRPC: x-request-id metadata reaches the log line and comes back in the response metadata', async () => {
  const client = inferenceClient(server.grpcAddress);
  const metadata = new Metadata();
  metadata.set('x-request-id', 'grpc-req-7');
  const echoed = await new Promise<string | undefined>((resolve, reject) => {
    const call = (client.raw as unknown as Record<string, (r: object, m: Metadata, cb: (e: Error | null) => void) => { on(event: 'metadata', cb: (m: Metadata) => void): void }>).ModelInfer!(
      { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256] }], raw_input_contents: [rawBytes(randomFloats(256, 2))] },
      metadata,
      (error) => (error ? reject(error) : undefined),
    );
    call.on('metadata', (m) => resolve(m.get('x-request-id')[0] as string | undefined));
  });
  client.close();
  assert.equal(echoed, 'grpc-req-7');
  const line = await logLine((l) => l.requestId === 'grpc-req-7');
  assert.equal(line.protocol, 'grpc');
  assert.equal(line.outcome, 'ok');
});
