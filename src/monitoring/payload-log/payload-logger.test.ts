import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CloudEvent, PayloadEvent } from './payload-event.js';
import { PayloadLogger } from './payload-logger.js';
import { RotatingFileSink, WebhookSink, type PayloadSink } from './payload-sinks.js';

function event(i: number): PayloadEvent {
  return {
    time: new Date(0),
    requestId: `r${i}`,
    model: 'm',
    version: '1',
    arm: 'stable',
    protocol: 'http',
    outcome: 'ok',
    latencyMs: 1,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: new Float32Array([i, -i]) }],
    outputs: [{ name: 's', datatype: 'BYTES', shape: [1], data: [Buffer.from('hi')] }],
  };
}

class MemorySink implements PayloadSink {
  readonly name = 'memory';
  readonly events: CloudEvent[] = [];
  async write(events: readonly CloudEvent[]): Promise<void> {
    this.events.push(...events);
  }
  async close(): Promise<void> {}
}

/** A sink that never finishes a write: what a hung webhook looks like. */
class BlockedSink implements PayloadSink {
  readonly name = 'blocked';
  write(): Promise<void> {
    return new Promise(() => {});
  }
  async close(): Promise<void> {}
}

test('records are CloudEvents with exact base64 tensors; big tensors become size + digest', async () => {
  const sink = new MemorySink();
  const logger = new PayloadLogger({ rates: new Map([['m', 1]]), sinks: [sink], maxTensorBytes: 8 });
  logger.offer(event(3));
  logger.offer({ ...event(4), inputs: [{ name: 'big', datatype: 'FP32', shape: [4], data: new Float32Array(4) }] });
  await logger.close();
  const [first, second] = sink.events;
  assert.equal(first!.specversion, '1.0');
  assert.equal(first!.type, 'org.modelport.inference.v1');
  assert.equal(first!.data.request_id, 'r3');
  assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(Buffer.from(first!.data.inputs[0]!.data_base64!, 'base64')).buffer)), [3, -3]);
  assert.deepEqual(Buffer.from(first!.data.outputs![0]!.data_base64!, 'base64'), Buffer.from([2, 0, 0, 0, 0x68, 0x69]));
  assert.equal(second!.data.inputs[0]!.data_base64, undefined);
  assert.equal(second!.data.inputs[0]!.byte_size, 16);
  assert.match(second!.data.inputs[0]!.sha256!, /^[0-9a-f]{64}$/);
});

test('a blocked sink fills its bounded queue, then drops and counts; offer never waits; other sinks still get everything', async () => {
  const good = new MemorySink();
  const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [new BlockedSink(), good], maxQueued: 10, batchSize: 5 });
  const started = process.hrtime.bigint();
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 5; i++) logger.offer(event(round * 5 + i));
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 1000);
  const [blocked, memory] = logger.counts();
  assert.equal(blocked!.written, 0);
  // 5 in the write that never ends, 10 queued, the rest dropped.
  assert.equal(blocked!.queued, 10);
  assert.equal(blocked!.dropped, 50 - 5 - 10);
  assert.equal(memory!.written, 50);
  assert.equal(memory!.dropped, 0);
});

test('sampling follows the per-model rate, "*" for the rest', () => {
  const logger = new PayloadLogger({ rates: new Map([['a', 1], ['b', 0], ['*', 0.5]]), sinks: [] });
  let sampled = 0;
  for (let i = 0; i < 4000; i++) if (logger.sample('other')) sampled += 1;
  assert.ok(logger.sample('a'));
  assert.ok(!logger.sample('b'));
  assert.ok(sampled > 1700 && sampled < 2300, `${sampled} of 4000 at 0.5`);
});

test('the file sink writes JSON lines and rotates at its size limit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelport-payload-'));
  try {
    const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [new RotatingFileSink(dir, 1500)], batchSize: 2 });
    for (let i = 0; i < 12; i++) logger.offer(event(i));
    await logger.close();
    const files = readdirSync(dir).sort();
    assert.ok(files.length >= 3, files.join(','));
    const lines = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'));
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as CloudEvent).data.request_id).sort(), Array.from({ length: 12 }, (_, i) => `r${i}`).sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the webhook sink retries a failing endpoint with back-off and delivers the batch once', async () => {
  let calls = 0;
  const received: CloudEvent[][] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      calls += 1;
      assert.equal(request.headers['content-type'], 'application/cloudevents-batch+json');
      if (calls < 3) return void response.writeHead(503).end();
      received.push(JSON.parse(body) as CloudEvent[]);
      response.writeHead(202).end();
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  try {
    const sink = new WebhookSink({ url: `http://127.0.0.1:${port}/hook`, backoffMs: 10 });
    const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [sink] });
    logger.offer(event(1));
    logger.offer(event(2));
    await logger.close();
    assert.equal(calls, 3);
    assert.deepEqual(received.flat().map((e) => e.data.request_id), ['r1', 'r2']);
    assert.equal(logger.counts()[0]!.written, 2);
  } finally {
    server.close();
  }
});
