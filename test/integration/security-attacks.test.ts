/**
 * Attacks on a server started the default way (credentials required), each of which must fail with
 * a 4xx / a gRPC refusal and leave the disk as it was: no credentials, forged and stale JWTs, a key
 * limited to one model used on another, an `infer` key on management endpoints, path traversal in
 * model names, versions and job paths, a zip-slip archive, a revoked key, and a rate limit. Keys
 * are made with `modelport keys create`, as a user would; JWTs are signed here with a key pair
 * whose public half the server is given.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { modelport } from '../fixtures/cli-runner.js';
import { healthClient, inferenceClient, type GrpcTestClient } from '../fixtures/grpc-client.js';
import { createMlpRepository, type RegistryRepository } from '../fixtures/registry-repository.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';

const ISSUER = 'https://login.example.com/';
const AUDIENCE = 'modelport';

let repo: RegistryRepository;
let server: ServerProcess;
let grpc: GrpcTestClient;
let dataRoot: string;
let signing: { privateKey: CryptoKey };
let stranger: { privateKey: CryptoKey };
const keys: Record<'admin' | 'read' | 'infer' | 'mlpOnly' | 'doomed', { id: string; key: string }> = {} as never;

const input = { inputs: [{ name: 'input', shape: [1, 256], datatype: 'FP32', data: Array.from({ length: 256 }, (_, i) => (i % 7) / 7) }] };

async function call(path: string, options: { method?: string; token?: string; body?: string | Buffer; headers?: Record<string, string>; base?: string } = {}) {
  const response = await fetch(`${options.base ?? server.url}${path}`, {
    method: options.method ?? (options.body !== undefined ? 'POST' : 'GET'),
    headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, error: text.startsWith('{') ? (JSON.parse(text) as { error?: string }).error : undefined };
}

const infer = (model: string, token?: string) => call(`/v2/models/${model}/infer`, { body: JSON.stringify(input), ...(token ? { token } : {}) });

function grpcCode(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  return promise.then(
    () => ({ code: GrpcStatus.OK, details: '' }),
    (error: ServiceError) => ({ code: error.code, details: error.details }),
  );
}

function jwt(claims: Record<string, unknown>, options: { key?: CryptoKey; audience?: string; expiresAt?: number } = {}): Promise<string> {
  return new SignJWT({ role: 'infer', ...claims })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject('svc-checkout')
    .setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 600)
    .sign(options.key ?? signing.privateKey);
}

/** Every file under the repository and data root with its digest (the registry database aside: reads may checkpoint it). */
function snapshot(): Map<string, string> {
  const files = new Map<string, string>();
  for (const root of [repo.root, dataRoot]) {
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else files.set(relative(repo.dir, path), entry.isSymbolicLink() ? 'link' : createHash('sha256').update(readFileSync(path)).digest('hex'));
      }
    };
    walk(root);
  }
  return files;
}

/** A ZIP whose one entry climbs out of wherever it is extracted. */
function zipSlip(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  const nameBytes = Buffer.from(name);
  const crc = crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  const localSize = local.length + nameBytes.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + nameBytes.length, 12);
  end.writeUInt32LE(localSize, 16);
  return Buffer.concat([local, nameBytes, data, central, nameBytes, end]);
}

async function createKey(role: string, ...extra: string[]): Promise<{ id: string; key: string }> {
  const result = await modelport('keys', 'create', '--role', role, '--registry', repo.registryUrl, '--json', ...extra);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as { id: string; key: string };
}

before(async () => {
  repo = createMlpRepository();
  cpSync(join(examplesDir, 'text_direction'), join(repo.root, 'text_direction'), { recursive: true });
  dataRoot = join(repo.dir, 'data');
  mkdirSync(dataRoot);
  writeFileSync(join(dataRoot, 'rows.jsonl'), `${JSON.stringify({ input: input.inputs[0]!.data })}\n`);
  symlinkSync('/etc', join(dataRoot, 'escape'));
  const pair = await generateKeyPair('ES256');
  signing = pair;
  stranger = await generateKeyPair('ES256');
  const pem = join(repo.dir, 'idp.pem');
  writeFileSync(pem, await exportSPKI(pair.publicKey));
  keys.admin = await createKey('admin', '--name', 'ops');
  keys.read = await createKey('read');
  keys.infer = await createKey('infer');
  keys.mlpOnly = await createKey('infer', '--models', 'mlp');
  keys.doomed = await createKey('infer');
  server = await startServer(
    repo.serverArgs([
      '--data-root', dataRoot,
      '--jwt-key-file', pem,
      '--jwt-issuer', ISSUER,
      '--jwt-audience', AUDIENCE,
      '--rate-limit-per-model', 'text_direction=2/m',
    ]),
    { secure: true },
  );
  grpc = inferenceClient(server.grpcAddress);
});

after(async () => {
  grpc?.close();
  assert.equal(await server?.stop(), 0);
  repo?.cleanup();
});

describe('a server that requires credentials', () => {
  it('leaves the probes open and nothing else', async () => {
    assert.equal((await call('/v2/health/live')).status, 200);
    assert.equal((await call('/v2/health/ready')).status, 200);
    assert.deepEqual(await grpc.unary('ServerLive'), { live: true });
    const health = healthClient(server.grpcAddress);
    assert.deepEqual(await health.unary('Check', { service: '' }), { status: 'SERVING' });
    health.close();

    for (const path of ['/v2', '/v2/models/mlp', '/v2/models/mlp/config', '/v1/models', '/v1/jobs', '/v2/no/such/path']) {
      const answer = await call(path);
      assert.equal(answer.status, 401, path);
      assert.equal(answer.headers.get('www-authenticate'), 'Bearer realm="modelport"');
      assert.match(answer.error!, /needs credentials/);
    }
    assert.equal((await infer('mlp')).status, 401);
    assert.equal((await fetch(server.metricsUrl)).status, 401);
    assert.equal((await grpcCode(grpc.unary('ServerMetadata'))).code, GrpcStatus.UNAUTHENTICATED);
    assert.equal((await grpcCode(grpc.unary('ModelMetadata', { name: 'mlp' }))).code, GrpcStatus.UNAUTHENTICATED);
    assert.equal((await grpcCode(grpc.unary('ModelInfer', { model_name: 'mlp' }))).code, GrpcStatus.UNAUTHENTICATED);
  });

  it('serves callers with a valid key, over REST, gRPC and the metrics port', async () => {
    assert.equal((await infer('mlp', keys.infer.key)).status, 200);
    assert.equal((await call('/v2/models/mlp', { headers: { 'x-api-key': keys.infer.key } })).status, 200);
    const meta = await grpc.unary<{ name: string }>('ModelMetadata', { name: 'mlp' }, { authorization: `Bearer ${keys.infer.key}` });
    assert.equal(meta.name, 'mlp');
    const metrics = await fetch(server.metricsUrl, { headers: { authorization: `Bearer ${keys.read.key}` } });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /nv_inference_request_success/);
  });

  it('admits each request of a gRPC stream by its credential and model', async () => {
    const stream = (metadata: Record<string, string>, models: string[]) =>
      new Promise<Array<{ error_message: string }>>((resolve, reject) => {
        const meta = new Metadata();
        for (const [k, v] of Object.entries(metadata)) meta.set(k, v);
        const call = (grpc.raw as unknown as { ModelStreamInfer(m: Metadata): import('@grpc/grpc-js').ClientDuplexStream<object, { error_message: string }> }).ModelStreamInfer(meta);
        const answers: Array<{ error_message: string }> = [];
        call.on('data', (answer) => answers.push(answer));
        call.on('error', reject);
        call.on('end', () => resolve(answers));
        const x = Buffer.alloc(256 * 4);
        for (const [i, model] of models.entries()) {
          call.write({ id: String(i), model_name: model, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256] }], raw_input_contents: [x] });
        }
        call.end();
      });
    const anonymous = await stream({}, ['mlp']);
    assert.equal(anonymous.length, 1);
    assert.match(anonymous[0]!.error_message, /needs credentials/);
    const limited = await stream({ authorization: `Bearer ${keys.mlpOnly.key}` }, ['mlp', 'text_direction', 'mlp']);
    assert.deepEqual(limited.map((a) => a.error_message).sort(), ['', '', "Request for unknown model: 'text_direction' is not found"]);
  });

  it('refuses JWTs with alg none, a wrong signature, past expiry or for another audience', async () => {
    assert.equal((await infer('mlp', await jwt({}))).status, 200, 'a good token works');
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const exp = Math.floor(Date.now() / 1000) + 600;
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ role: 'admin', iss: ISSUER, aud: AUDIENCE, sub: 'mallory', exp })}.`;
    const cases: Array<[string, string, RegExp]> = [
      ['alg none', unsigned, /algorithm is not accepted|not a well-formed JWT/],
      ['wrong signature', await jwt({ role: 'admin' }, { key: stranger.privateKey }), /signature does not verify/],
      ['expired', await jwt({}, { expiresAt: Math.floor(Date.now() / 1000) - 300 }), /expired/],
      ['wrong audience', await jwt({}, { audience: 'billing' }), /"aud"/],
    ];
    for (const [what, token, reason] of cases) {
      const answer = await infer('mlp', token);
      assert.equal(answer.status, 401, what);
      assert.match(answer.error!, reason, what);
      const overGrpc = await grpcCode(grpc.unary('ServerMetadata', {}, { authorization: `Bearer ${token}` }));
      assert.equal(overGrpc.code, GrpcStatus.UNAUTHENTICATED, what);
    }
  });

  it('answers a key limited to model A on model B exactly as for a model that does not exist', async () => {
    assert.equal((await infer('mlp', keys.mlpOnly.key)).status, 200);
    const other = await infer('text_direction', keys.mlpOnly.key);
    const missing = await infer('no_such_model', keys.mlpOnly.key);
    assert.equal(other.status, 400);
    assert.equal(other.error, "Request for unknown model: 'text_direction' is not found");
    assert.equal(missing.status, other.status);
    assert.equal((await call('/v2/models/text_direction', { token: keys.mlpOnly.key })).status, 400);
    const overGrpc = await grpcCode(grpc.unary('ModelMetadata', { name: 'text_direction' }, { authorization: `Bearer ${keys.mlpOnly.key}` }));
    const unknown = await grpcCode(grpc.unary('ModelMetadata', { name: 'no_such_model' }, { authorization: `Bearer ${keys.mlpOnly.key}` }));
    assert.equal(overGrpc.code, unknown.code);
  });

  it('refuses an infer key on every management endpoint and changes nothing', async () => {
    const before = snapshot();
    const token = keys.infer.key;
    const attempts: Array<[string, Parameters<typeof call>[1]]> = [
      ['/v1/models', {}],
      ['/v1/models/mlp/versions', { body: Buffer.from('not a model'), headers: { 'content-type': 'application/octet-stream' } }],
      ['/v1/models/mlp/routing', { method: 'PUT', body: JSON.stringify({ arms: [{ name: 'stable', version: 1, weight: 100 }] }), headers: { 'content-type': 'application/json' } }],
      ['/v1/models/mlp/rollback', { body: '{}', headers: { 'content-type': 'application/json' } }],
      ['/v1/jobs', { body: JSON.stringify({ model: 'mlp', input: 'rows.jsonl', output: 'out.jsonl' }), headers: { 'content-type': 'application/json' } }],
      ['/v2/repository/index', { body: '{}' }],
      ['/v2/repository/models/mlp/unload', { body: '{}' }],
      ['/v2/models/stats', {}],
    ];
    for (const [path, options] of attempts) {
      const answer = await call(path, { ...options, token });
      assert.equal(answer.status, 403, `${options?.method ?? 'GET/POST'} ${path}: ${answer.text}`);
      assert.match(answer.error!, /has role 'infer', which may not/);
    }
    const unload = await grpcCode(grpc.unary('RepositoryModelUnload', { model_name: 'mlp' }, { authorization: `Bearer ${token}` }));
    assert.equal(unload.code, GrpcStatus.PERMISSION_DENIED);
    assert.deepEqual(snapshot(), before);
    assert.equal((await infer('mlp', token)).status, 200, 'the model still serves');
  });

  it('refuses path traversal in model names, versions and job paths, and leaves the disk unchanged', async () => {
    const before = snapshot();
    const token = keys.admin.key;
    const model = Buffer.from('not onnx');
    const uploads = ['..%2F..%2Fetc', '..', '.modelport', 'mlp%2F..%2F..%2Fx', '%2Fetc%2Fpasswd'];
    for (const name of uploads) {
      const answer = await call(`/v1/models/${name}/versions`, { body: model, token, headers: { 'content-type': 'application/octet-stream' } });
      assert.ok(answer.status >= 400 && answer.status < 500, `upload to ${name}: ${answer.status} ${answer.text}`);
    }
    for (const version of ['..', '..%2F1', '1%2F..%2F..', '-1']) {
      const answer = await call(`/v2/models/mlp/versions/${version}`, { token });
      assert.ok(answer.status >= 400 && answer.status < 500, `version ${version}: ${answer.status}`);
      const remove = await call(`/v1/models/mlp/versions/${version}`, { method: 'DELETE', token });
      assert.ok(remove.status >= 400 && remove.status < 500, `delete version ${version}: ${remove.status}`);
    }
    const jobPaths: Array<[string, string]> = [
      ['../registry/registry.db', 'out.jsonl'],
      ['/etc/passwd', 'out.jsonl'],
      ['escape/passwd', 'out.jsonl'],
      ['rows.jsonl', '../models/mlp/1/model.onnx'],
      ['rows.jsonl', '/tmp/owned.jsonl'],
      ['rows.jsonl', 'escape/owned.jsonl'],
    ];
    for (const [input, output] of jobPaths) {
      const answer = await call('/v1/jobs', { token, body: JSON.stringify({ model: 'mlp', input, output }), headers: { 'content-type': 'application/json' } });
      assert.ok(answer.status >= 400 && answer.status < 500, `job ${input} → ${output}: ${answer.status} ${answer.text}`);
    }
    const grpcLoad = await grpcCode(grpc.unary('RepositoryModelLoad', { model_name: '../../etc' }, { authorization: `Bearer ${token}` }));
    assert.ok([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.NOT_FOUND, GrpcStatus.UNIMPLEMENTED].includes(grpcLoad.code), `gRPC load: ${grpcLoad.code} ${grpcLoad.details}`);
    assert.deepEqual(snapshot(), before);
  });

  it('refuses a zip-slip archive uploaded as a model version, extracting nothing', async () => {
    const before = snapshot();
    const answer = await call('/v1/models/mlp/versions', { body: zipSlip('../../../../tmp/zip-slip.txt', 'owned'), token: keys.admin.key, headers: { 'content-type': 'application/zip' } });
    assert.ok(answer.status >= 400 && answer.status < 500, `${answer.status} ${answer.text}`);
    assert.deepEqual(snapshot(), before);
    assert.throws(() => statSync('/tmp/zip-slip.txt'));
  });

  it('writes the credential, not just the name a client claims, into the audit log', async () => {
    const alias = await call('/v1/models/mlp/aliases/production', { method: 'PUT', token: keys.admin.key, body: JSON.stringify({ version: 1 }), headers: { 'content-type': 'application/json', 'x-modelport-actor': 'mallory' } });
    assert.equal(alias.status, 200, alias.text);
    const audit = await call('/v1/audit?model=mlp', { token: keys.read.key });
    const entry = (JSON.parse(audit.text) as Array<{ action: string; actor: string }>).find((e) => e.action === 'alias.set');
    assert.equal(entry?.actor, `mallory (key:${keys.admin.id})`);
  });

  it('stops accepting a revoked key within seconds', async () => {
    assert.equal((await infer('mlp', keys.doomed.key)).status, 200);
    const revoked = await modelport('keys', 'revoke', keys.doomed.id, '--registry', repo.registryUrl);
    assert.equal(revoked.code, 0, revoked.stderr);
    const deadline = Date.now() + 10_000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = (await infer('mlp', keys.doomed.key)).status;
    }
    assert.equal(status, 401);
    assert.match((await infer('mlp', keys.doomed.key)).error!, /revoked/);
  });

  it('rate-limits a model with 429, Retry-After and the RateLimit fields, and RESOURCE_EXHAUSTED over gRPC', async () => {
    const token = keys.admin.key;
    const image = { inputs: [{ name: 'x', shape: [1, 3, 48, 192], datatype: 'FP32', data: new Array(3 * 48 * 192).fill(0.5) }] };
    const send = () => call('/v2/models/text_direction/infer', { token, body: JSON.stringify(image) });
    assert.equal((await send()).status, 200);
    assert.equal((await send()).status, 200);
    const limited = await send();
    assert.equal(limited.status, 429);
    assert.match(limited.error!, /rate limit 'model-text_direction' reached/);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(limited.headers.get('ratelimit-policy'), '"model-text_direction";q=2;w=60');
    assert.match(limited.headers.get('ratelimit')!, /^"model-text_direction";r=0;t=\d+$/);
    const overGrpc = await grpcCode(grpc.unary('ModelInfer', { model_name: 'text_direction' }, { authorization: `Bearer ${token}` }));
    assert.equal(overGrpc.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal((await infer('mlp', token)).status, 200, 'other models are not limited');
  });
});
