/**
 * Payload logging on a real server: every mlp request (sampling rate 1) reaches both the JSONL
 * files and a webhook as a CloudEvent carrying the exact input bytes, the outputs, the client's
 * request id and, for refused requests, the error; models not opted in are not logged. The
 * metrics count what was written.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { binaryInferBody, float32Bytes, randomFloats } from '../fixtures/v2-client.js';

interface Event {
  specversion: string;
  data: {
    request_id?: string;
    model: string;
    outcome: string;
    error?: string;
    inputs: Array<{ name: string; data_base64?: string }>;
    outputs?: Array<{ name: string; shape: number[]; data_base64?: string }>;
  };
}

let server: ServerProcess;
let hook: Server;
const hooked: Event[] = [];
let dir = '';

before(async () => {
  await prepareExamples();
  dir = mkdtempSync(join(tmpdir(), 'modelport-payloads-'));
  hook = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      hooked.push(...(JSON.parse(body) as Event[]));
      response.writeHead(204).end();
    });
  }).listen(0, '127.0.0.1');
  await once(hook, 'listening');
  const { port } = hook.address() as { port: number };
  server = await startServer([
    '--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp', '--load-model', 'vad',
    '--payload-log', 'mlp=1', '--payload-log-dir', dir, '--payload-log-webhook', `http://127.0.0.1:${port}/payloads`,
  ]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
  hook.close();
  rmSync(dir, { recursive: true, force: true });
});

async function infer(shape: number[], values: Float32Array, requestId: string): Promise<number> {
  const { body, headerLength } = binaryInferBody([{ name: 'input', datatype: 'FP32', shape, bytes: float32Bytes(values) }]);
  const response = await fetch(`${server.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'inference-header-content-length': String(headerLength), 'x-request-id': requestId },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

function fileEvents(): Event[] {
  return readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event));
}

test('each sampled request reaches the files and the webhook with exact inputs, outputs and its id', async () => {
  const sent = new Map<string, Float32Array>();
  for (let i = 0; i < 20; i++) {
    const values = randomFloats(256, 100 + i);
    sent.set(`p-${i}`, values);
    assert.equal(await infer([1, 256], values, `p-${i}`), 200);
  }
  assert.equal(await infer([1, 255], randomFloats(255, 1), 'p-bad'), 400);
  // vad is not opted in: its requests are not logged.
  const vad = await fetch(`${server.url}/v2/models/vad/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'vad-1' },
    body: JSON.stringify({
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [1, 512], data: new Array(512).fill(0) },
        { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: new Array(256).fill(0) },
        { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
      ],
    }),
  });
  assert.equal(vad.status, 200);

  for (let i = 0; i < 100 && (fileEvents().length < 21 || hooked.length < 21); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const events of [fileEvents(), hooked]) {
    assert.equal(events.length, 21);
    for (const event of events) {
      assert.equal(event.specversion, '1.0');
      assert.equal(event.data.model, 'mlp');
      const values = sent.get(event.data.request_id!);
      if (values) {
        assert.equal(event.data.outcome, 'ok');
        assert.deepEqual(Buffer.from(event.data.inputs[0]!.data_base64!, 'base64'), Buffer.from(float32Bytes(values)));
        assert.deepEqual(event.data.outputs![0]!.shape, [1, 10]);
      } else {
        assert.equal(event.data.request_id, 'p-bad');
        assert.equal(event.data.outcome, 'MP_ERR_INPUT_SHAPE');
        assert.match(event.data.error!, /input/);
      }
    }
  }
  // A write is counted once its sink call has returned, which is after the webhook has the body
  // (and, the logging thread running on spare CPU only, may be a moment later under load).
  const written = /modelport_payload_log_events_total\{sink="webhook",outcome="written"\} 21/;
  let metrics = '';
  for (let i = 0; i < 100 && !written.test(metrics); i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    metrics = await (await fetch(server.metricsUrl)).text();
  }
  assert.match(metrics, /modelport_payload_log_events_total\{sink="file",outcome="written"\} 21/);
  assert.match(metrics, /modelport_payload_log_events_total\{sink="webhook",outcome="written"\} 21/);
  assert.match(metrics, /modelport_payload_log_events_total\{sink="file",outcome="dropped"\} 0/);
});
