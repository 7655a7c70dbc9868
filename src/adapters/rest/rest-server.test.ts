/**
 * The REST adapter against an in-test DataPlaneApi: every route's status, body and headers, the
 * error shapes (404, 405, 413, 415, kind → status), binary answers byte-exact, compression, and the
 * server lifecycle (ephemeral port, client disconnect aborting an infer, draining on close).
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import {
  ModelportError,
  mpError,
  type ErrorKind,
  type InferenceRequest,
  type InferenceResponse,
  type Logger,
  type ModelConfig,
  type RequestContext,
} from '../../core/index.js';
import type {
  DataPlaneApi,
  LoadModelOptions,
  ModelMetadata,
  ModelVersionStatistics,
  RepositoryIndexEntry,
  ServerMetadata,
} from '../../dataplane/index.js';
import { STATUS_BY_KIND, errorStatus } from './error-status.js';
import { createRestServer, type RestResponseInfo, type RestServer } from './rest-server.js';

type Call = [string, ...unknown[]];

/** A data plane with one model, "m" (versions 1 and 2), whose infer echoes its inputs as outputs. */
class FakeDataPlane implements DataPlaneApi {
  calls: Call[] = [];
  live = true;
  ready = true;
  modelReady = true;
  lastRequest: InferenceRequest | undefined;
  lastContext: RequestContext | undefined;
  inferImpl: ((request: InferenceRequest, context: RequestContext) => Promise<InferenceResponse>) | undefined;

  isLive(): boolean {
    return this.live;
  }
  isReady(): boolean {
    return this.ready;
  }
  serverMetadata(): ServerMetadata {
    return { name: 'modelport', version: '0.1.0', extensions: ['binary_tensor_data', 'statistics'] };
  }
  modelMetadata(name: string, version?: string): ModelMetadata {
    this.calls.push(['modelMetadata', name, version]);
    this.#known(name);
    return { name, versions: [version ?? '2'], platform: 'onnxruntime_onnx', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [] };
  }
  isModelReady(name: string, version?: string): boolean {
    this.calls.push(['isModelReady', name, version]);
    this.#known(name);
    return this.modelReady;
  }
  modelConfig(name: string, version?: string): ModelConfig {
    this.calls.push(['modelConfig', name, version]);
    this.#known(name);
    return { name, max_batch_size: 8, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }], output: [] };
  }
  modelStatistics(name?: string, version?: string): { model_stats: ModelVersionStatistics[] } {
    this.calls.push(['modelStatistics', name, version]);
    if (name !== undefined) this.#known(name);
    return { model_stats: [] };
  }
  repositoryIndex(readyOnly: boolean): RepositoryIndexEntry[] {
    this.calls.push(['repositoryIndex', readyOnly]);
    return [{ name: 'm', version: '1', state: 'READY' }, { name: 'b', state: 'UNAVAILABLE', reason: 'broken' }];
  }
  failureCounts() {
    return [];
  }
  servingVersions() {
    return [];
  }
  async loadModel(name: string, options?: LoadModelOptions): Promise<void> {
    this.calls.push(['loadModel', name, options]);
  }
  async unloadModel(name: string): Promise<void> {
    this.calls.push(['unloadModel', name]);
    this.#known(name);
  }
  async infer(request: InferenceRequest, context: RequestContext): Promise<InferenceResponse> {
    this.lastRequest = request;
    this.lastContext = context;
    if (this.inferImpl) return this.inferImpl(request, context);
    this.#known(request.modelName);
    const response: InferenceResponse = {
      modelName: request.modelName,
      modelVersion: request.modelVersion ?? '2',
      outputs: request.inputs.map((input) => ({ ...input, name: `${input.name}_out` })),
    };
    if (request.id) response.id = request.id;
    return response;
  }
  #known(name: string): void {
    if (name !== 'm') throw mpError('MP_ERR_MODEL_UNKNOWN', `Request for unknown model: '${name}' is not found`);
  }
}

function json(response: { body: string }): unknown {
  return JSON.parse(response.body);
}

function assertError(response: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, message: string | RegExp): void {
  assert.equal(response.statusCode, status, response.body);
  assert.equal(response.headers['content-type'], 'application/json');
  const body = json(response) as { error: string };
  assert.deepEqual(Object.keys(body), ['error']);
  if (typeof message === 'string') assert.equal(body.error, message);
  else assert.match(body.error, message);
}

function binaryInfer(inputs: Array<{ name: string; datatype: string; shape: number[]; bytes: Uint8Array }>, outputs: Array<{ name: string; binary: boolean }>) {
  const header = Buffer.from(
    JSON.stringify({
      inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, parameters: { binary_data_size: i.bytes.byteLength } })),
      outputs: outputs.map((o) => ({ name: o.name, parameters: { binary_data: o.binary } })),
    }),
  );
  return { payload: Buffer.concat([header, ...inputs.map((i) => i.bytes)]), headerLength: header.length };
}

describe('routes', () => {
  const dataPlane = new FakeDataPlane();
  const responses: RestResponseInfo[] = [];
  let server: RestServer;
  before(() => {
    server = createRestServer({ dataPlane, bodyLimit: 64 * 1024, onResponse: (info) => responses.push(info) });
  });
  after(() => server.close());

  test('health: 200 with an empty body, 400 when not live or ready', async () => {
    for (const url of ['/v2/health/live', '/v2/health/ready']) {
      const response = await server.inject(url);
      assert.equal(response.statusCode, 200);
      assert.equal(response.body, '');
    }
    dataPlane.ready = false;
    dataPlane.live = false;
    try {
      assert.equal((await server.inject('/v2/health/ready')).statusCode, 400);
      assert.equal((await server.inject('/v2/health/live')).statusCode, 400);
    } finally {
      dataPlane.ready = true;
      dataPlane.live = true;
    }
  });

  test('server metadata is passed through as application/json', async () => {
    const response = await server.inject('/v2');
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/json');
    assert.deepEqual(json(response), dataPlane.serverMetadata());
  });

  test('model metadata with and without a version', async () => {
    dataPlane.calls = [];
    assert.equal((await server.inject('/v2/models/m')).statusCode, 200);
    const versioned = await server.inject('/v2/models/m/versions/12');
    assert.equal(versioned.statusCode, 200);
    assert.deepEqual((json(versioned) as ModelMetadata).versions, ['12']);
    assert.deepEqual(dataPlane.calls, [['modelMetadata', 'm', undefined], ['modelMetadata', 'm', '12']]);
  });

  test('URL-encoded model names are decoded', async () => {
    dataPlane.calls = [];
    await server.inject('/v2/models/a%20b');
    assert.deepEqual(dataPlane.calls, [['modelMetadata', 'a b', undefined]]);
  });

  test('a version that is neither [0-9]+ nor an alias-shaped name is 404 Not Found on every model route', async () => {
    for (const [method, url] of [
      ['GET', '/v2/models/m/versions/-1'],
      ['GET', '/v2/models/m/versions/.x/ready'],
      ['GET', '/v2/models/m/versions/-1/config'],
      ['GET', '/v2/models/m/versions/~latest/stats'],
      ['POST', '/v2/models/m/versions/-x/infer'],
    ] as const) {
      assertError(await server.inject({ method, url }), 404, 'Not Found');
    }
  });

  test('model ready: 200 empty, 400 with Triton\'s message, unknown model from the data plane', async () => {
    const ready = await server.inject('/v2/models/m/versions/1/ready');
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.body, '');
    dataPlane.modelReady = false;
    try {
      assertError(await server.inject('/v2/models/m/ready'), 400, 'Model version not ready');
    } finally {
      dataPlane.modelReady = true;
    }
    assertError(await server.inject('/v2/models/nope/ready'), 400, "Request for unknown model: 'nope' is not found");
  });

  test('config is the configuration object itself', async () => {
    const response = await server.inject('/v2/models/m/versions/2/config');
    assert.equal(response.statusCode, 200);
    assert.deepEqual(json(response), dataPlane.modelConfig('m', '2'));
  });

  test('statistics for all models, one model, one version', async () => {
    dataPlane.calls = [];
    for (const url of ['/v2/models/stats', '/v2/models/m/stats', '/v2/models/m/versions/1/stats']) {
      const response = await server.inject(url);
      assert.equal(response.statusCode, 200);
      assert.deepEqual(json(response), { model_stats: [] });
    }
    assert.deepEqual(dataPlane.calls, [['modelStatistics', undefined, undefined], ['modelStatistics', 'm', undefined], ['modelStatistics', 'm', '1']]);
  });

  test('repository index: optional body, ready must be a boolean', async () => {
    const expected = dataPlane.repositoryIndex(false);
    dataPlane.calls = [];
    const plain = await server.inject({ method: 'POST', url: '/v2/repository/index' });
    assert.equal(plain.statusCode, 200);
    assert.deepEqual(json(plain), expected);
    await server.inject({ method: 'POST', url: '/v2/repository/index', payload: {} });
    await server.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: true } });
    assert.deepEqual(dataPlane.calls.slice(0, 3), [['repositoryIndex', false], ['repositoryIndex', false], ['repositoryIndex', true]]);
    assertError(await server.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: 'yes' } }), 400, "Invalid value for 'ready': expected a boolean");
    assertError(
      await server.inject({ method: 'POST', url: '/v2/repository/index', payload: '{"ready":', headers: { 'content-type': 'application/json' } }),
      400,
      /failed to parse the request JSON/,
    );
  });

  test('load and unload: 200 with an empty body; config passed as JSON text', async () => {
    dataPlane.calls = [];
    const load = await server.inject({ method: 'POST', url: '/v2/repository/models/m/load' });
    assert.equal(load.statusCode, 200);
    assert.equal(load.body, '');
    const config = JSON.stringify({ max_batch_size: 4 });
    assert.equal((await server.inject({ method: 'POST', url: '/v2/repository/models/m/load', payload: { parameters: { config } } })).statusCode, 200);
    const unload = await server.inject({ method: 'POST', url: '/v2/repository/models/m/unload', payload: { parameters: { unload_dependents: true } } });
    assert.equal(unload.statusCode, 200);
    assert.equal(unload.body, '');
    assert.deepEqual(dataPlane.calls, [['loadModel', 'm', undefined], ['loadModel', 'm', { config }], ['unloadModel', 'm']]);
    assertError(await server.inject({ method: 'POST', url: '/v2/repository/models/m/load', payload: { parameters: { config: { a: 1 } } } }), 400, /'config': expected a string/);
    assertError(await server.inject({ method: 'POST', url: '/v2/repository/models/m/load', payload: { parameters: { config, 'file:1/model.onnx': 'AAAA' } } }), 400, /not supported/);
    assertError(await server.inject({ method: 'POST', url: '/v2/repository/models/nope/unload' }), 400, /unknown model/);
  });

  test('unknown paths are 404 and wrong methods 405, in the error shape', async () => {
    for (const url of ['/v2/nothing/here', '/v3', '/v2/models/m/', '/v2/models/m/infer/more', '/']) {
      assertError(await server.inject(url), 404, 'Not Found');
    }
    assertError(await server.inject('/v2/models/%zz'), 400, /not a valid url component/);
    for (const [method, url] of [
      ['GET', '/v2/models/m/infer'],
      ['POST', '/v2/health/live'],
      ['DELETE', '/v2/models/m'],
      ['PUT', '/v2/models/m/versions/1/config'],
      ['HEAD', '/v2/health/ready'],
      ['GET', '/v2/repository/index'],
      ['GET', '/v2/repository/models/m/load'],
      ['POST', '/v2/models/stats'],
    ] as const) {
      const response = await server.inject({ method, url });
      assert.equal(response.statusCode, 405, `${method} ${url}`);
      if (method !== 'HEAD') assertError(response, 405, 'Method Not Allowed');
    }
  });

  test('JSON infer: request decoded for the data plane, response JSON with the id echoed', async () => {
    const response = await server.inject({
      method: 'POST',
      url: '/v2/models/m/versions/1/infer',
      payload: {
        id: 'req-1',
        parameters: { priority: 1, custom: 'c' },
        inputs: [{ name: 'x', datatype: 'INT64', shape: [2], data: [1, 2] }],
      },
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.headers['content-type'], 'application/json');
    assert.equal(response.headers['inference-header-content-length'], undefined);
    assert.equal(response.body, '{"id":"req-1","model_name":"m","model_version":"1","outputs":[{"name":"x_out","datatype":"INT64","shape":[2],"data":[1,2]}]}');
    assert.equal(dataPlane.lastRequest!.modelVersion, '1');
    assert.deepEqual(dataPlane.lastRequest!.parameters, { priority: 1, custom: 'c' });
    assert.equal(dataPlane.lastContext!.protocol, 'http');
    // Priority reaches the data plane as a parameter; it maps it onto the model's priority levels.
    assert.equal(dataPlane.lastContext!.priority, undefined);
    assert.ok(dataPlane.lastContext!.signal instanceof AbortSignal);
  });

  test('INT64 beyond 2^53 round-trips exactly through the server', async () => {
    const payload = '{"inputs":[{"name":"i","datatype":"INT64","shape":[2],"data":[9223372036854775807,-9223372036854775807]}]}';
    const response = await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload, headers: { 'content-type': 'application/json' } });
    assert.match(response.body, /"data":\[9223372036854775807,-9223372036854775807\]/);
  });

  test('binary infer: header length and bytes are byte-exact', async () => {
    const values = new Float32Array([1.5, -2, 3.25, 4]);
    const { payload, headerLength } = binaryInfer(
      [{ name: 'x', datatype: 'FP32', shape: [2, 2], bytes: new Uint8Array(values.buffer) }],
      [{ name: 'x_out', binary: true }],
    );
    const response = await server.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload,
      headers: { 'content-type': 'application/octet-stream', 'Inference-Header-Content-Length': String(headerLength) },
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.headers['content-type'], 'application/octet-stream');
    const jsonLength = Number(response.headers['inference-header-content-length']);
    const raw = response.rawPayload;
    const header = JSON.parse(raw.subarray(0, jsonLength).toString());
    assert.deepEqual(header, {
      model_name: 'm',
      model_version: '2',
      outputs: [{ name: 'x_out', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } }],
    });
    assert.equal(raw.length, jsonLength + 16);
    assert.deepEqual(raw.subarray(jsonLength), Buffer.from(values.buffer));
  });

  test('any Content-Type is accepted for a JSON infer body', async () => {
    const payload = JSON.stringify({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1], data: [3] }] });
    for (const type of ['text/plain', 'application/json; charset=utf-8', 'application/x-whatever']) {
      const response = await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload, headers: { 'content-type': type } });
      assert.equal(response.statusCode, 200, `${type}: ${response.body}`);
    }
  });

  test('binary_data_output makes unlisted outputs binary; a body without a Content-Type is accepted', async () => {
    const header = Buffer.from(JSON.stringify({ parameters: { binary_data_output: true }, inputs: [{ name: 'b', datatype: 'BOOL', shape: [3], parameters: { binary_data_size: 3 } }] }));
    const response = await server.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: Buffer.concat([header, Buffer.from([1, 0, 1])]),
      headers: { 'inference-header-content-length': String(header.length) },
    });
    assert.equal(response.statusCode, 200, response.body);
    const jsonLength = Number(response.headers['inference-header-content-length']);
    assert.deepEqual([...response.rawPayload.subarray(jsonLength)], [1, 0, 1]);
  });

  test('raw binary request (Inference-Header-Content-Length: 0) uses the model\'s single input', async () => {
    const values = new Float32Array([1, 2]);
    const response = await server.inject({
      method: 'POST',
      url: '/v2/models/m/infer',
      payload: Buffer.from(values.buffer),
      headers: { 'inference-header-content-length': '0' },
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(dataPlane.lastRequest!.inputs[0]!.shape, [1, 2]);
    const jsonLength = Number(response.headers['inference-header-content-length']);
    assert.deepEqual(response.rawPayload.subarray(jsonLength), Buffer.from(values.buffer));
    assertError(
      await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: Buffer.alloc(12), headers: { 'inference-header-content-length': '0' } }),
      400,
      /does not fit shape/,
    );
  });

  test('bad infer bodies answer 400 in the error shape', async () => {
    assertError(
      await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: '{"inputs": [', headers: { 'content-type': 'application/json' } }),
      400,
      /failed to parse the request JSON buffer/,
    );
    assertError(
      await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: '{"inputs":[]}', headers: { 'inference-header-content-length': '5000' } }),
      400,
      /Inference-Header-Content-Length should be in range \[0, 13\], got: 5000/,
    );
    assertError(
      await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5] }] } }),
      400,
      "unable to parse 'data' for input 'x': expected 6 elements for shape [2,3], got 5",
    );
    assertError(
      await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: { parameters: { triton_x: 1 }, inputs: [] } }),
      400,
      /reserved for Triton usage/,
    );
    assertError(await server.inject({ method: 'POST', url: '/v2/models/m/infer' }), 400, /failed to parse the request JSON buffer/);
  });

  test('each error kind maps to its status', async () => {
    const cases: Array<[ModelportError, number]> = [
      [mpError('MP_ERR_MODEL_UNKNOWN', 'Request for unknown model'), 400],
      [mpError('MP_ERR_MODEL_VERSION_UNKNOWN', 'version 9 is not found'), 404],
      [mpError('MP_ERR_QUEUE_FULL', 'queue full'), 503],
      [mpError('MP_ERR_MODEL_NOT_READY', 'not ready'), 503],
      [mpError('MP_ERR_REQUEST_TIMEOUT', 'timed out in the queue'), 503],
      [mpError('MP_ERR_REPOSITORY_CONTROL_MODE', 'not in explicit mode'), 501],
      [mpError('MP_ERR_RUNTIME_FAILED', 'boom'), 500],
      [mpError('MP_ERR_REQUEST_TOO_LARGE', 'too big'), 413],
    ];
    try {
      for (const [error, status] of cases) {
        dataPlane.inferImpl = () => Promise.reject(error);
        assertError(await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: { inputs: [] } }), status, error.message);
      }
      dataPlane.inferImpl = () => Promise.reject(new TypeError('something broke'));
      assertError(await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: { inputs: [] } }), 500, 'something broke');
    } finally {
      dataPlane.inferImpl = undefined;
    }
  });

  test('the status table covers every kind', () => {
    const expected: Record<ErrorKind, number> = {
      INVALID_ARG: 400,
      NOT_FOUND: 404,
      UNAVAILABLE: 503,
      UNSUPPORTED: 501,
      ALREADY_EXISTS: 409,
      FAILED_PRECONDITION: 409,
      CANCELLED: 400,
      DEADLINE_EXCEEDED: 503,
      RESOURCE_EXHAUSTED: 429,
      UNAUTHENTICATED: 401,
      PERMISSION_DENIED: 403,
      INTERNAL: 500,
    };
    assert.deepEqual(STATUS_BY_KIND, expected);
    for (const [kind, status] of Object.entries(expected)) {
      const error = new ModelportError('MP_ERR_INTERNAL', 'x');
      Object.defineProperty(error, 'kind', { value: kind });
      assert.equal(errorStatus(error), status, kind);
    }
  });

  test('a body over the limit is 413 with the sizes in the message', async () => {
    const response = await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: Buffer.alloc(70 * 1024, 0x20), headers: { 'content-type': 'application/json' } });
    assertError(response, 413, `request body of ${70 * 1024} bytes exceeds the limit of ${64 * 1024} bytes`);
  });

  test('gzip and deflate request bodies are decompressed', async () => {
    const body = JSON.stringify({ id: 'z', inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2] }] });
    for (const [encoding, payload] of [['gzip', gzipSync(body)], ['deflate', deflateSync(body)]] as const) {
      const response = await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload, headers: { 'content-type': 'application/json', 'content-encoding': encoding } });
      assert.equal(response.statusCode, 200, `${encoding}: ${response.body}`);
      assert.match(response.body, /"id":"z"/);
    }
  });

  test('an unknown Content-Encoding is 415, a corrupt or expanding one 400 / 413', async () => {
    const unknown = await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: 'x', headers: { 'content-encoding': 'br' } });
    assertError(unknown, 415, /unsupported Content-Encoding 'br'/);
    assert.equal(unknown.headers['accept-encoding'], 'gzip, deflate');
    assertError(await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: 'not gzip', headers: { 'content-encoding': 'gzip' } }), 400, /failed to decompress the gzip request body/);
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, 0x20));
    assertError(await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: bomb, headers: { 'content-encoding': 'gzip' } }), 413, /decompressed request body exceeds the limit of 65536 bytes/);
  });

  test('large infer answers are gzip-compressed when Accept-Encoding asks', async () => {
    const data = Array.from({ length: 1000 }, (_, i) => i);
    const payload = { inputs: [{ name: 'x', datatype: 'INT32', shape: [1000], data }] };
    const plain = await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload });
    assert.equal(plain.headers['content-encoding'], undefined);
    const compressed = await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload, headers: { 'accept-encoding': 'gzip, deflate' } });
    assert.equal(compressed.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(compressed.rawPayload), plain.rawPayload);
    const refused = await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload, headers: { 'accept-encoding': 'gzip;q=0' } });
    assert.equal(refused.headers['content-encoding'], undefined);
  });

  test('onResponse reports method, url, status and duration', () => {
    const last = responses.at(-1)!;
    assert.equal(last.method, 'POST');
    assert.equal(last.url, '/v2/models/m/infer');
    assert.equal(last.status, 200);
    assert.ok(last.durationMs >= 0);
  });
});

describe('server lifecycle', () => {
  test('listen on port 0, Inference-Header-Content-Length sent in its exact casing', async () => {
    const server = createRestServer({ dataPlane: new FakeDataPlane() });
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      assert.equal(address.host, '127.0.0.1');
      assert.ok(address.port > 0);
      const header = Buffer.from('{"inputs":[{"name":"x","datatype":"UINT8","shape":[2],"parameters":{"binary_data_size":2}}],"outputs":[{"name":"x_out","parameters":{"binary_data":true}}]}');
      const raw = await new Promise<string[]>((resolve, reject) => {
        const req = httpRequest({ host: address.host, port: address.port, method: 'POST', path: '/v2/models/m/infer', headers: { 'Inference-Header-Content-Length': header.length } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.rawHeaders));
        });
        req.on('error', reject);
        req.end(Buffer.concat([header, Buffer.from([7, 8])]));
      });
      assert.ok(raw.includes('Inference-Header-Content-Length'), raw.join(' '));
    } finally {
      await server.close();
    }
  });

  test('malformed HTTP is answered in the error shape', async () => {
    const server = createRestServer({ dataPlane: new FakeDataPlane() });
    const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, host, () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString()));
        socket.on('end', () => resolve(received));
        socket.on('error', reject);
      });
      assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(text, /\{"error":"Bad Request"\}$/);
    } finally {
      await server.close();
    }
  });

  test('a client that disconnects aborts its infer through the context signal', async () => {
    const dataPlane = new FakeDataPlane();
    let aborted!: () => void;
    const abortSeen = new Promise<void>((resolve) => (aborted = resolve));
    let started!: () => void;
    const inferStarted = new Promise<void>((resolve) => (started = resolve));
    dataPlane.inferImpl = (_request, context) =>
      new Promise((_resolve, reject) => {
        context.signal!.addEventListener('abort', () => {
          aborted();
          reject(mpError('MP_ERR_SERVER_STOPPING', 'cancelled'));
        });
        started();
      });
    const server = createRestServer({ dataPlane });
    const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const req = httpRequest({ host, port, method: 'POST', path: '/v2/models/m/infer', headers: { 'content-type': 'application/json' } });
      req.on('error', () => {});
      req.end(JSON.stringify({ inputs: [] }));
      await inferStarted;
      req.destroy();
      await abortSeen;
    } finally {
      await server.close();
    }
  });

  test('close() lets a request in flight finish, then resolves', async () => {
    const dataPlane = new FakeDataPlane();
    let finish!: () => void;
    let started!: () => void;
    const inferStarted = new Promise<void>((resolve) => (started = resolve));
    dataPlane.inferImpl = (request) =>
      new Promise((resolve) => {
        finish = () => resolve({ modelName: request.modelName, modelVersion: '1', outputs: [] });
        started();
      });
    const server = createRestServer({ dataPlane });
    const { host, port } = await server.listen({ host: '127.0.0.1', port: 0 });
    const answer = fetch(`http://${host}:${port}/v2/models/m/infer`, { method: 'POST', body: '{"inputs":[]}' });
    await inferStarted;
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(closed, false, 'close waits for the request in flight');
    finish();
    const response = await answer;
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '{"model_name":"m","model_version":"1","outputs":[]}');
    await closing;
    assert.equal(closed, true);
  });

  test('unexpected errors are logged; catalogue errors are not', async () => {
    const logged: unknown[] = [];
    const logger: Logger = {
      trace: () => {},
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (...args: unknown[]) => void logged.push(args),
      child: () => logger,
    };
    const dataPlane = new FakeDataPlane();
    const server = createRestServer({ dataPlane, logger });
    try {
      dataPlane.inferImpl = () => Promise.reject(mpError('MP_ERR_QUEUE_FULL', 'full'));
      await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: { inputs: [] } });
      assert.equal(logged.length, 0);
      dataPlane.inferImpl = () => Promise.reject(new RangeError('bug'));
      await server.inject({ method: 'POST', url: '/v2/models/m/infer', payload: { inputs: [] } });
      assert.equal(logged.length, 1);
    } finally {
      await server.close();
    }
  });
});

describe('direct infer path', () => {
  // The same requests through the direct path and through the fastify route must get the same
  // answers byte for byte (status, content type, binary header length, body).
  const dataPlane = new FakeDataPlane();
  let direct: RestServer;
  let routed: RestServer;
  let directUrl: string;
  let routedUrl: string;
  before(async () => {
    direct = createRestServer({ dataPlane, bodyLimit: 4096 });
    routed = createRestServer({ dataPlane, bodyLimit: 4096, inferFastPath: false });
    const a = await direct.listen({ host: '127.0.0.1', port: 0 });
    const b = await routed.listen({ host: '127.0.0.1', port: 0 });
    directUrl = `http://127.0.0.1:${a.port}`;
    routedUrl = `http://127.0.0.1:${b.port}`;
  });
  after(async () => {
    await direct.close();
    await routed.close();
  });

  async function both(path: string, init: RequestInit): Promise<void> {
    const answers = [];
    for (const base of [directUrl, routedUrl]) {
      const response = await fetch(base + path, { ...init, headers: { 'accept-encoding': 'identity', ...(init.headers as Record<string, string>) } });
      answers.push({
        status: response.status,
        type: response.headers.get('content-type'),
        headerLength: response.headers.get('inference-header-content-length'),
        body: Buffer.from(await response.arrayBuffer()).toString('base64'),
      });
    }
    assert.deepEqual(answers[0], answers[1], path);
  }

  test('binary and JSON infer, versions, errors and limits answer alike', async () => {
    const { payload, headerLength } = binaryInfer([{ name: 'x', datatype: 'FP32', shape: [1, 2], bytes: new Uint8Array(new Float32Array([1.5, -2]).buffer) }], [{ name: 'x_out', binary: true }]);
    await both('/v2/models/m/infer', { method: 'POST', headers: { 'inference-header-content-length': String(headerLength) }, body: payload });
    await both('/v2/models/m/versions/3/infer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'a', inputs: [{ name: 'x', datatype: 'INT64', shape: [1], data: [9007199254740993] }] }) });
    await both('/v2/models/other/infer', { method: 'POST', body: JSON.stringify({ inputs: [] }) });
    await both('/v2/models/m/infer', { method: 'POST', body: '{"inputs": [' });
    await both('/v2/models/m/infer', { method: 'POST', headers: { 'inference-header-content-length': '999' }, body: '{}' });
    await both('/v2/models/m/infer', { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2000], data: new Array(2000).fill(1) }] }) });
    await both('/v2/models/m/infer', { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] })) });
    await both('/v2/models/m/versions/abc/infer', { method: 'POST', body: '{}' });
    await both('/v2/models/m/infer', { method: 'GET' });
  });
});
