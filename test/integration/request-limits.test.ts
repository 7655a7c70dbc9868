/**
 * The request limits of a real `modelport serve` process over HTTP, each answered with a clear
 * error that names the limit and the value: body size (also chunked, also as thousands of tiny
 * chunks), elements per tensor, decoded tensor bytes after JSON expansion, BYTES elements and
 * their length, inputs, requested outputs and parameters per request, JSON nesting depth, batch
 * size, header size (431), slow headers and slow bodies (408), open connections (503), and empty
 * tensors. The server keeps serving after each.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConformanceRepository } from '../../scripts/conformance-repository.js';
import { startServer, type ServerProcess } from '../fixtures/server-process.js';
import { float32Bytes, postBinary, postJson } from '../fixtures/v2-client.js';

const BODY_LIMIT = 4 * 1024 * 1024;
const TENSOR_BYTES = 1024 * 1024;
const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 3000;

let repository: string;
let server: ServerProcess;

before(async () => {
  repository = mkdtempSync(join(tmpdir(), 'modelport-limits-'));
  await buildConformanceRepository(repository);
  server = await startServer([
    '--model-repository', repository,
    '--registry', 'off',
    '--http-body-limit', String(BODY_LIMIT),
    '--max-request-tensor-bytes', String(TENSOR_BYTES),
    '--max-tensor-elements', '1000000',
    '--max-string-tensor-elements', '4',
    '--max-string-element-bytes', '1000',
    '--headers-timeout-ms', String(HEADERS_TIMEOUT_MS),
    '--request-timeout-ms', String(REQUEST_TIMEOUT_MS),
  ]);
});
after(async () => {
  assert.equal(await server.stop(), 0);
  rmSync(repository, { recursive: true, force: true });
});

const infer = (model: string) => `${server.url}/v2/models/${model}/infer`;
const mlpGood = () => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256], data: new Array(256).fill(0.5) }] });

async function refused(response: Promise<{ status: number; text: string }>, status: number, pattern: RegExp): Promise<void> {
  const answer = await response;
  assert.equal(answer.status, status, answer.text);
  assert.match((JSON.parse(answer.text) as { error: string }).error, pattern);
}

/** One raw HTTP exchange: what the server wrote until it closed the connection. */
function exchange(write: (socket: Socket) => void | Promise<void>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.on('connect', () => {
      Promise.resolve(write(socket)).catch(reject);
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('tensor limits: 413 naming the limit, checked before the data is allocated', () => {
  test('elements per tensor, from the shape alone', async () => {
    await refused(
      postJson(infer('vad'), { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1000001], data: [] }] }),
      413,
      /input 'input' has a dimension of 1000001 .*the limit is 1000000 elements per tensor \(maxTensorElements, --max-tensor-elements\)/,
    );
  });

  test('decoded bytes after JSON expansion: 600 KB of JSON that would be 1.2 MB of FP32', async () => {
    const data = `[${new Array(300_000).fill('0').join(',')}]`;
    const body = `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,300000],"data":${data}}]}`;
    assert.ok(body.length < TENSOR_BYTES, 'the body itself is under every limit');
    await refused(postJson(infer('vad'), body), 413, /inputs take 1200000 bytes once decoded .*the limit is 1048576 bytes per request \(maxRequestTensorBytes/);
  });

  test('the same bytes sent binary are refused the same way', async () => {
    const response = await postBinary(infer('vad'), [{ name: 'input', datatype: 'FP32', shape: [1, 300000], bytes: float32Bytes(new Float32Array(300000)) }]);
    assert.equal(response.status, 413);
    assert.match(response.json.error!, /maxRequestTensorBytes/);
  });

  test('elements of a BYTES tensor, and the length of one element', async () => {
    await refused(
      postJson(infer('datatypes'), { inputs: [{ name: 'in_bytes', datatype: 'BYTES', shape: [3, 2], data: ['a', 'b', 'c', 'd', 'e', 'f'] }] }),
      413,
      /has 6 elements .*the limit is 4 elements per BYTES tensor \(maxStringTensorElements/,
    );
    await refused(
      postJson(infer('datatypes'), { inputs: [{ name: 'in_bytes', datatype: 'BYTES', shape: [1, 2], data: ['x'.repeat(2000), ''] }] }),
      413,
      /element 0 of BYTES input 'in_bytes' is 2000 bytes; the limit is 1000 bytes per BYTES element \(maxStringElementBytes/,
    );
  });

  test('inputs, requested outputs and parameters per request', async () => {
    const inputs = Array.from({ length: 300 }, (_, i) => ({ name: `x${i}`, datatype: 'FP32', shape: [1], data: [0] }));
    await refused(postJson(infer('mlp'), { inputs }), 413, /the request has 300 inputs; the limit is 256 inputs per request \(maxRequestInputs/);
    const outputs = Array.from({ length: 100_000 }, () => ({ name: 'output' }));
    await refused(postJson(infer('mlp'), { ...mlpGood(), outputs }), 413, /names 100000 outputs; the limit is 256 outputs per request \(maxRequestOutputs/);
    const parameters = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, 1]));
    await refused(postJson(infer('mlp'), { ...mlpGood(), parameters }), 413, /the request has 300 parameters; the limit is 256/);
  });

  test('a shape of more than 64 dimensions', async () => {
    await refused(postJson(infer('vad'), { inputs: [{ name: 'input', datatype: 'FP32', shape: new Array(65).fill(1), data: [0] }] }), 413, /65 dimensions; the limit is 64/);
  });
});

describe('JSON nesting, batch size and empty tensors: 400', () => {
  test('data nested deeper than 100 levels', async () => {
    const data = `${'['.repeat(101)}1${']'.repeat(101)}`;
    await refused(postJson(infer('mlp'), `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,256],"data":${data}}]}`), 400, /nested deeper than 100 levels/);
  });

  test('a document with 64-bit integers (the exact, recursive parser) nested deeper than 100 levels', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    await refused(postJson(infer('mlp'), `{"id":"x","parameters":{"sequence_id":12345678901234567890},"extra":${deep},"inputs":[]}`), 400, /the request JSON is nested deeper than 100 levels/);
  });

  test('a repository index body nested deeper than 100 levels', async () => {
    await refused(postJson(`${server.url}/v2/repository/index`, `{"ready":${'['.repeat(200)}${']'.repeat(200)}}`), 400, /nested deeper than 100 levels/);
  });

  test('a batch above max_batch_size', async () => {
    await refused(
      postJson(infer('mlp'), { inputs: [{ name: 'input', datatype: 'FP32', shape: [129, 256], data: new Array(129 * 256).fill(0) }] }),
      400,
      /batch-size must be <= 128 for model 'mlp'.*got 129/,
    );
  });

  test('empty tensors where the model leaves a dimension variable (they abort onnxruntime)', async () => {
    const body = {
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [0, 512], data: [] },
        { name: 'state', datatype: 'FP32', shape: [2, 0, 128], data: [] },
        { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
      ],
    };
    await refused(postJson(infer('vad'), body), 400, /input 'input' of model 'vad' is empty: shape \[0,512\] has 0 in dimension 0/);
  });
});

describe('body size: 413, however the body is framed', () => {
  test('a Content-Length over the limit is refused before the body is read', async () => {
    const answer = await exchange((socket) => {
      socket.write(`POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY_LIMIT + 1}\r\n\r\n`);
    });
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /request body of 4194305 bytes exceeds the limit of 4194304 bytes/);
  });

  for (const path of ['/v2/models/mlp/infer', '/v2/repository/index']) {
    test(`a chunked body over the limit on ${path}`, async () => {
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      const answer = await exchange(async (socket) => {
        socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n`);
        for (let sent = 0; sent <= BODY_LIMIT && !socket.destroyed; sent += chunk.length) {
          socket.write(`${chunk.length.toString(16)}\r\n`);
          socket.write(chunk);
          socket.write('\r\n');
          await sleep(1);
        }
      });
      assert.match(answer, /^HTTP\/1\.1 413 /);
      assert.match(answer, /exceeds the limit of 4194304 bytes/);
    });
  }

  test('200 000 one-byte chunks make an ordinary request', async () => {
    const json = JSON.stringify(mlpGood());
    const body = ' '.repeat(200_000) + json;
    let wire = 'POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (const char of body) wire += `1\r\n${char}\r\n`;
    wire += '0\r\n\r\n';
    const answer = await exchange((socket) => {
      socket.write(wire);
    });
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /"model_name":"mlp"/);
  });
});

describe('headers and slow clients', () => {
  test('headers over 16 KiB are 431 naming the limit', async () => {
    const response = await fetch(`${server.url}/v2/health/live`, { headers: { 'x-padding': 'p'.repeat(20_000) } }).catch(() => undefined);
    if (response !== undefined) {
      assert.equal(response.status, 431);
      assert.match(((await response.json()) as { error: string }).error, /request headers exceed 16384 bytes \(maxHeaderBytes, --max-header-bytes\)/);
    }
    const answer = await exchange((socket) => {
      socket.write(`GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(20_000)}\r\n\r\n`);
    });
    assert.match(answer, /^HTTP\/1\.1 431 /);
    assert.match(answer, /maxHeaderBytes/);
  });

  test('headers that trickle in (slow-loris) are 408 naming the timeout, and the connection closes', async () => {
    const answer = await exchange(async (socket) => {
      socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n');
      for (let i = 0; i < 40 && !socket.destroyed; i++) {
        socket.write(`X-Slow-${i}: 1\r\n`);
        await sleep(100);
      }
    });
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /headers must arrive within 1000 ms of its first byte \(headersTimeoutMs, --headers-timeout-ms\)/);
  });

  test('a connection that never sends a byte is closed', async () => {
    const answer = await exchange(() => undefined);
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });

  test('an idle keep-alive connection is not a slow request: headersTimeout counts from the first byte', async () => {
    const answers = await new Promise<string[]>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1');
      const seen: string[] = [];
      socket.setEncoding('utf8');
      socket.on('error', reject);
      socket.on('data', (chunk: string) => {
        seen.push(chunk);
        if (seen.length === 2) {
          socket.end();
          resolve(seen);
        }
      });
      socket.on('connect', async () => {
        socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
        // Idle for twice headersTimeout (well inside keepAliveTimeout), then the next request.
        await sleep(2 * HEADERS_TIMEOUT_MS);
        socket.write('GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n');
      });
    });
    assert.match(answers[0]!, /^HTTP\/1\.1 200 /);
    assert.match(answers[1]!, /^HTTP\/1\.1 200 /);
  });

  test('a body that trickles in is 408 once the whole request took longer than requestTimeout', async () => {
    const answer = await exchange(async (socket) => {
      socket.write('POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
      for (let i = 0; i < 100 && !socket.destroyed; i++) {
        socket.write(' ');
        await sleep(100);
      }
    });
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /whole request within 3000 ms \(requestTimeoutMs, --request-timeout-ms\)/);
  });

  test('still serving after all of that', async () => {
    assert.equal((await postJson(infer('mlp'), mlpGood())).status, 200);
  });
});

describe('open connections', () => {
  test('requests on connections beyond --max-connections are 503 naming the limit; a freed slot serves again', async () => {
    const limited = await startServer(['--model-repository', repository, '--registry', 'off', '--model-control-mode', 'explicit', '--load-model', 'mlp', '--max-connections', '2']);
    const open = (): Promise<Socket> =>
      new Promise((resolve) => {
        const socket = connect(limited.port, '127.0.0.1', () => resolve(socket));
      });
    const ask = (socket: Socket): Promise<string> =>
      new Promise((resolve) => {
        let received = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => {
          received += chunk;
          if (/\r\n\r\n/.test(received) && /Content-Length: (\d+)/i.test(received)) {
            const length = Number(/Content-Length: (\d+)/i.exec(received)![1]);
            if (received.length - received.indexOf('\r\n\r\n') - 4 >= length) resolve(received);
          }
        });
        socket.on('close', () => resolve(received));
        socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      });
    try {
      const first = await open();
      const second = await open();
      const third = await open();
      const refusedAnswer = await ask(third);
      assert.match(refusedAnswer, /^HTTP\/1\.1 503 /);
      assert.match(refusedAnswer, /too many open connections: this server takes at most 2 \(maxConnections, --max-connections\)/);
      assert.match(await ask(first), /^HTTP\/1\.1 200 /);
      first.destroy();
      second.destroy();
      await sleep(100);
      assert.match(await ask(await open()), /^HTTP\/1\.1 200 /);
    } finally {
      assert.equal(await limited.stop(), 0);
    }
  });
});
