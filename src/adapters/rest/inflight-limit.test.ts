/**
 * Tests of the in-flight cap on the direct infer path: past the cap a request is refused with 503,
 * Retry-After and Connection: close before its body is read, and a slot frees when an answer
 * is sent.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { silentLogger, type InferenceResponse } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import { createInferFastPath } from './infer-fast-path.js';
import { InflightLimit } from './inflight-limit.js';

function post(port: number, body: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/models/m/infer', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('refuses infer requests over the cap at once, unread, and admits again once one is answered', async () => {
  const waiting: Array<() => void> = [];
  let calls = 0;
  const dataPlane = {
    infer: () => {
      calls++;
      return new Promise<InferenceResponse>((resolve) => waiting.push(() => resolve({ modelName: 'm', modelVersion: '1', outputs: [] })));
    },
  } as unknown as DataPlaneApi;
  const limit = new InflightLimit(1);
  const fastPath = createInferFastPath({ dataPlane, bodyLimit: 1 << 20, responseCompression: false, logger: silentLogger, inflight: limit });
  const server = createServer((req, res) => {
    if (!fastPath(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] });
  try {
    const first = post(port, body);
    while (calls === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    assert.equal(limit.count, 1);

    const refused = await post(port, body);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.headers.connection, 'close');
    assert.match(JSON.parse(refused.text).error, /already has 1 inference requests in flight, its limit \(--max-inflight-requests\); the request to model 'm' was not read/);
    assert.equal(calls, 1, 'the refused request never reached the data plane');
    assert.equal(limit.refused, 1);

    waiting.shift()!();
    assert.equal((await first).status, 200);
    assert.equal(limit.count, 0);
    const again = post(port, body);
    while (calls === 1) await new Promise((resolve) => setTimeout(resolve, 2));
    waiting.shift()!();
    assert.equal((await again).status, 200);
  } finally {
    server.close();
  }
});
