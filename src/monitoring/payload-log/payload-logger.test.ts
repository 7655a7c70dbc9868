import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { toCloudEvent, type CloudEvent, type PayloadEvent } from './payload-event.js';
import { PayloadLogger } from './payload-logger.js';
import { latencyJson, RecordWriter } from './payload-record.js';
import { BlockedSink } from './payload-sink-fixtures.js';
import { moduleSink, RotatingFileSink, WebhookSink } from './payload-sinks.js';
import { BatchReader, BatchWriter, CONTROL_SLOTS, RING_USED } from './payload-wire.js';
import { threadScheduling } from '../../../test/fixtures/thread-scheduling.js';

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

/** Both ends of the wire over one ring, as the two threads hold them. */
function wire(ringBytes = 1024 * 1024): { batches: BatchWriter; reader: BatchReader; control: Int32Array } {
  const ring = new SharedArrayBuffer(ringBytes);
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
  return { batches: new BatchWriter(ring, control), reader: new BatchReader(ring, control), control };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'modelport-payload-'));
  return body(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function fileEvents(dir: string): CloudEvent[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as CloudEvent);
}

test('records reach a file sink as CloudEvents with exact base64 tensors and request ids; big tensors become size + digest', () =>
  withDir(async (dir) => {
    const logger = new PayloadLogger({ rates: new Map([['m', 1]]), sinks: [new RotatingFileSink(dir)], maxTensorBytes: 8 });
    const big = new Float32Array([1, 2, 3, 4]);
    logger.offer({ ...event(3), requestId: 'r3-ü' });
    logger.offer({ ...event(4), traceId: 't4', inputs: [{ name: 'big', datatype: 'FP32', shape: [4], data: big }], outputs: undefined, outcome: 'MP_ERR_X', error: 'bad "input"' });
    await logger.close();
    const [first, second] = fileEvents(dir);
    assert.equal(first!.specversion, '1.0');
    assert.equal(first!.type, 'org.modelport.inference.v1');
    assert.equal(first!.source, '/modelport');
    assert.equal(first!.time, '1970-01-01T00:00:00.000Z');
    assert.match(first!.id, /^r3-ü-\d+$/);
    assert.equal(first!.data.request_id, 'r3-ü');
    assert.deepEqual(first!.data.inputs[0]!.shape, [2]);
    assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(Buffer.from(first!.data.inputs[0]!.data_base64!, 'base64')).buffer)), [3, -3]);
    assert.deepEqual(Buffer.from(first!.data.outputs![0]!.data_base64!, 'base64'), Buffer.from([2, 0, 0, 0, 0x68, 0x69]));
    assert.equal(second!.data.request_id, 'r4');
    assert.equal(second!.data.trace_id, 't4');
    assert.equal(second!.data.error, 'bad "input"');
    assert.equal(second!.data.outputs, undefined);
    assert.equal(second!.data.inputs[0]!.data_base64, undefined);
    assert.equal(second!.data.inputs[0]!.byte_size, 16);
    assert.equal(second!.data.inputs[0]!.sha256, createHash('sha256').update(Buffer.from(big.buffer)).digest('hex'));
    assert.deepEqual(logger.counts(), [{ sink: 'file', written: 2, dropped: 0, failed: 0, queued: 0 }]);
  }));

test('the logging thread writes the JSON of toCloudEvent(...), after the trip through the wire format: byte for byte when ASCII, \\u-escaped otherwise', () => {
  const writer = new RecordWriter('/src', 64);
  const { batches, reader } = wire();
  const write = (list: PayloadEvent[]) => {
    for (const e of list) assert.ok(batches.append(e));
    return batches.take()!;
  };
  const trip = (list: PayloadEvent[]) => {
    const message = write(list);
    const raw = reader.read(message);
    // Strings made before the ring's space is handed back: what the logging thread does.
    const texts = raw.map((r, i) => writer.write(r, `id-${i}`));
    reader.release(message);
    return { raw, texts };
  };
  const events: PayloadEvent[] = [
    event(1),
    { ...event(2), requestId: undefined, traceId: 'trace', outputs: undefined, error: 'no "luck"\n', latencyMs: 0.125 },
    {
      ...event(3),
      inputs: [
        { name: 'a', datatype: 'INT64', shape: [1, 2], data: new BigInt64Array([1n, -2n]) },
        { name: 'b', datatype: 'UINT8', shape: [3], data: new Uint8Array([1, 2, 3]).subarray(1) },
        { name: 'c', datatype: 'FP32', shape: [64], data: new Float32Array(64).fill(0.5) },
      ],
      outputs: [],
    },
    // Not ASCII: a model name, a request id, an error with a line separator, an emoji and a lone surrogate.
    { ...event(4), model: 'modèle', requestId: 'ид-4', error: 'bad \u2028 🙃 \ud800', outcome: 'MP_ERR_X' },
  ];
  // Batch after batch through the same table and writer: later batches refer to names sent before, and reuse the timestamp's second.
  for (const time of [new Date(0), new Date(1_700_000_000_007), new Date(1_700_000_000_999), new Date(1_700_000_001_000)]) {
    const timed = events.map((e) => ({ ...e, time }));
    const { texts } = trip(timed);
    assert.equal(texts.length, timed.length);
    timed.forEach((e, i) => {
      const text = texts[i]!;
      const expected = JSON.stringify(toCloudEvent(e, '/src', 64, `id-${i}`));
      assert.match(text, /^[\x20-\x7e]*$/);
      assert.deepEqual(JSON.parse(text), JSON.parse(expected));
      if (/^[\x20-\x7e]*$/.test(expected)) assert.equal(text, expected);
    });
  }
  // Without an id, the request id and a sequence number, as toCloudEvent makes them.
  const message = write([event(7), { ...event(8), requestId: '' }]);
  const [withId, withoutId] = reader.read(message);
  assert.match((JSON.parse(writer.write(withId!)) as CloudEvent).id, /^r7-\d+$/);
  assert.match((JSON.parse(writer.write(withoutId!)) as CloudEvent).id, /^request-\d+$/);
});

test('the table of names starts over when it grows large, and names stay right across the restart; the ring wraps around', () => {
  const { batches, reader, control } = wire(64 * 1024);
  for (let batch = 0; batch < 60; batch++) {
    // 100 new model names per batch, and the same tensor name throughout.
    const list = Array.from({ length: 100 }, (_, i) => ({ ...event(i), model: `m${batch * 100 + i}` }));
    for (const e of list) assert.ok(batches.append(e));
    const message = batches.take()!;
    reader.read(message).forEach((r, i) => {
      assert.equal(r.modelJson, JSON.stringify(list[i]!.model));
      assert.equal(r.inputs[0]!.nameJson, '"x"');
      const bytes = r.inputs[0]!.bytes.subarray(r.inputs[0]!.start, r.inputs[0]!.end);
      assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(bytes).buffer)), [i, -i]);
    });
    reader.release(message);
  }
  assert.equal(Atomics.load(control, RING_USED), 0);
});

test('an event the ring has no room for is refused, and fits again once the logging thread hands space back', () => {
  const { batches, reader, control } = wire(4096);
  let appended = 0;
  while (batches.append(event(appended))) appended += 1;
  // 17 blocks of 232 bytes (26 float64s of numbers, 8 + 6 bytes of tensors, a request id of 4 or 6
  // bytes, padded) fill 3,944 of the 4,096.
  assert.equal(appended, 17);
  const first = batches.take()!;
  assert.equal(reader.read(first).length, 17);
  reader.release(first);
  assert.equal(Atomics.load(control, RING_USED), 0);
  // The next block does not fit in the 152 bytes left at the end: it wraps to the start, and the batch says so.
  for (let i = 0; i < 3; i++) assert.ok(batches.append(event(i)));
  const second = batches.take()!;
  assert.equal(second.at, 0);
  assert.deepEqual(reader.read(second).map((r) => r.requestId), ['r0', 'r1', 'r2']);
  reader.release(second);
  assert.equal(Atomics.load(control, RING_USED), 0);
});

test('latencies are written as JSON.stringify writes them', () => {
  const samples = [0, 1, 0.000001, 0.00001, 0.1, 1.5, 12.345678, 999_999_999.999999, 1e9, 1e21, -1, 0.1 + 0.2, Number.NaN, Number.POSITIVE_INFINITY];
  for (let i = 0; i < 20_000; i++) samples.push(Math.floor(Math.random() * 10 ** (3 + (i % 8))) / 1e6, Math.random() * 100);
  for (const ms of samples) assert.equal(latencyJson(ms), JSON.stringify(ms), String(ms));
});

test('a blocked sink fills its bounded queue, then drops and counts; offer never waits; other sinks still get everything', () =>
  withDir(async (dir) => {
    const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [new BlockedSink(), new RotatingFileSink(dir)], maxQueued: 10, batchSize: 5 });
    let offering = 0;
    for (let round = 0; round < 10; round++) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 5; i++) logger.offer(event(round * 5 + i));
      offering += Number(process.hrtime.bigint() - started) / 1e6;
      // Each round reaches the logging thread before the next is offered, so the counts below are exact.
      await until(() => logger.counts()[1]!.written === (round + 1) * 5, `round ${round} written to the file`);
    }
    assert.ok(offering < 100, `offering 50 events took ${offering} ms`);
    const [blocked, file] = logger.counts();
    assert.equal(blocked!.written, 0);
    // 5 in the write that never ends, 10 queued, the rest dropped.
    assert.equal(blocked!.queued, 10);
    assert.equal(blocked!.dropped, 50 - 5 - 10);
    assert.deepEqual(file, { sink: 'file', written: 50, dropped: 0, failed: 0, queued: 0 });
    await logger.close(100);
    assert.equal(fileEvents(dir).length, 50);
  }));

test('once every sink is full, sampling refuses before anything is copied, and counts the drop', async () => {
  const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [new BlockedSink()], maxQueued: 10, batchSize: 5 });
  assert.equal(logger.sample('m'), true);
  for (let i = 0; i < 15; i++) logger.offer(event(i));
  await until(() => logger.counts()[0]!.queued === 10 && !logger.sample('m'), 'the queue to fill');
  const dropped = logger.counts()[0]!.dropped;
  for (let i = 0; i < 100; i++) assert.equal(logger.sample('m'), false);
  assert.equal(logger.counts()[0]!.dropped, dropped + 100);
  await logger.close(50);
});

test('a sink of another kind, loaded from its module on the logging thread, counts failed events and reports the error', async () => {
  const errors: string[] = [];
  const failing = moduleSink('failing', new URL('./payload-sink-fixtures.js', import.meta.url), 'FailingSink');
  const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [failing], onSinkError: (sink, error) => errors.push(`${sink}: ${error.message}`) });
  for (let i = 0; i < 3; i++) logger.offer(event(i));
  await logger.close();
  assert.deepEqual(logger.counts(), [{ sink: 'failing', written: 0, dropped: 0, failed: 3, queued: 0 }]);
  assert.deepEqual(errors, ['failing: sink refused the batch']);
});

test('sampling follows the per-model rate, "*" for the rest', () => {
  const logger = new PayloadLogger({ rates: new Map([['a', 1], ['b', 0], ['*', 0.5]]), sinks: [] });
  let sampled = 0;
  for (let i = 0; i < 4000; i++) if (logger.sample('other')) sampled += 1;
  assert.ok(logger.sample('a'));
  assert.ok(!logger.sample('b'));
  assert.ok(sampled > 1700 && sampled < 2300, `${sampled} of 4000 at 0.5`);
});

test('close flushes everything offered; the file sink writes JSON lines and rotates at its size limit', () =>
  withDir(async (dir) => {
    const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [new RotatingFileSink(dir, 1500)], batchSize: 2 });
    for (let i = 0; i < 200; i++) logger.offer(event(i));
    await Promise.all([logger.close(), logger.close()]);
    const files = readdirSync(dir).sort();
    assert.ok(files.length >= 3, files.join(','));
    assert.deepEqual(fileEvents(dir).map((e) => e.data.request_id).sort(), Array.from({ length: 200 }, (_, i) => `r${i}`).sort());
    assert.deepEqual(logger.counts(), [{ sink: 'file', written: 200, dropped: 0, failed: 0, queued: 0 }]);
    // After close nothing more is taken, and what is offered is counted as dropped.
    assert.equal(logger.sample('m'), false);
    logger.offer(event(0));
    assert.equal(logger.counts()[0]!.dropped, 2);
  }));

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

/** Runs `body` (an ES module's text, with PayloadLogger and RotatingFileSink imported) in a fresh node; resolves with its stdout. */
function runNode(body: string, timeoutMs: number): Promise<string> {
  const script = [
    `import { PayloadLogger } from ${JSON.stringify(new URL('./payload-logger.js', import.meta.url).href)};`,
    `import { RotatingFileSink } from ${JSON.stringify(new URL('./payload-sinks.js', import.meta.url).href)};`,
    body,
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

test('the logging thread does not keep the process alive, after close or without it', () =>
  withDir(async (dir) => {
    const offer = `logger.offer({ time: new Date(0), requestId: 'x', model: 'm', version: '1', arm: 'stable', protocol: 'http', outcome: 'ok', latencyMs: 1, inputs: [] });`;
    const make = (sub: string) => `const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [new RotatingFileSink(${JSON.stringify(join(dir, sub))})] });`;
    // Both would hang until the timeout (and fail) if the thread held the event loop.
    const closed = await runNode(`${make('a')}\n${offer}\nawait logger.close();\nconsole.log(JSON.stringify(logger.counts()));`, 10_000);
    assert.deepEqual(JSON.parse(closed), [{ sink: 'file', written: 1, dropped: 0, failed: 0, queued: 0 }]);
    await runNode(`${make('b')}\n${offer}\nconsole.log('done');`, 10_000);
  }));

test('the logging thread runs at the lowest priority, so request and inference threads go first', { skip: process.platform !== 'linux' && 'per-thread priorities are read from /proc' }, () =>
  withDir(async (dir) => {
    const niceOfThreads = (): number[] => readdirSync('/proc/self/task').map((tid) => threadScheduling(tid).nice);
    assert.ok(!niceOfThreads().includes(19));
    const logger = new PayloadLogger({ rates: new Map([['*', 1]]), sinks: [new RotatingFileSink(dir)] });
    logger.offer(event(1));
    await until(() => logger.counts()[0]!.written === 1, 'the record to be written');
    assert.ok(niceOfThreads().includes(19), `nice values: ${niceOfThreads().join(' ')}`);
    await logger.close();
  }));
