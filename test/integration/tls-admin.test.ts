/**
 * Transport and listener separation on a real server: HTTPS, gRPC over TLS and metrics over HTTPS
 * with client certificates required (mutual TLS), certificates made by openssl for the test; and
 * --admin-port, which moves the management API off the inference port.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { inferenceClient } from '../fixtures/grpc-client.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';

const dir = mkdtempSync(join(tmpdir(), 'modelport-tls-'));
const file = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by the CA. */
function makeCertificates(): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=modelport test CA');
  for (const [name, extra] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`);
    execFileSync('sh', ['-c', `printf '%b' "${extra.replace(/\n/g, '\\n')}" > ${file(`${name}.ext`)}`]);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${name}.pem`), '-days', '2', '-extfile', file(`${name}.ext`));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as { port: number }).port;
      probe.close(() => resolve(port));
    });
  });
}

/** GET over HTTPS with the test CA; `client` adds the client certificate. */
function httpsGet(url: string, client: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(file('ca.pem')), ...(client ? { cert: readFileSync(file('client.pem')), key: readFileSync(file('client.key')) } : {}) }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('mutual TLS on every listener', () => {
  let server: ServerProcess;
  before(async () => {
    makeCertificates();
    server = await startServer(['--model-repository', examplesDir, '--registry', 'off', '--tls-cert', file('server.pem'), '--tls-key', file('server.key'), '--tls-client-ca', file('ca.pem')]);
  });
  after(async () => {
    assert.equal(await server?.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS to a client with a certificate and refuses the handshake without one', async () => {
    assert.match(server.url, /^https:/);
    const answer = await httpsGet(`${server.url}/v2/models/mlp`, true);
    assert.equal(answer.status, 200);
    assert.equal((JSON.parse(answer.body) as { name: string }).name, 'mlp');
    await assert.rejects(httpsGet(`${server.url}/v2/models/mlp`, false), (error: NodeJS.ErrnoException) => /certificate|handshake|ECONNRESET|socket hang up/i.test(`${error.code} ${error.message}`));
    await assert.rejects(fetch(server.url.replace('https:', 'http:') + '/v2/health/live'));
  });

  it('serves metrics over HTTPS', async () => {
    assert.match(server.metricsUrl, /^https:/);
    const answer = await httpsGet(server.metricsUrl, true);
    assert.equal(answer.status, 200);
    assert.match(answer.body, /nv_inference_count/);
  });

  it('serves gRPC over TLS to a client with a certificate only', async () => {
    const ca = readFileSync(file('ca.pem'));
    const good = inferenceClient(server.grpcAddress, {}, credentials.createSsl(ca, readFileSync(file('client.key')), readFileSync(file('client.pem'))));
    assert.deepEqual(await good.unary('ServerLive'), { live: true });
    good.close();
    const anonymous = inferenceClient(server.grpcAddress, {}, credentials.createSsl(ca));
    await assert.rejects(anonymous.unary('ServerLive'), (error: ServiceError) => error.code === GrpcStatus.UNAVAILABLE);
    anonymous.close();
    const plain = inferenceClient(server.grpcAddress);
    await assert.rejects(plain.unary('ServerLive'), (error: ServiceError) => error.code === GrpcStatus.UNAVAILABLE);
    plain.close();
  });
});

describe('--admin-port', () => {
  let server: ServerProcess;
  let data: string;
  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'modelport-admin-'));
    server = await startServer(['--model-repository', examplesDir, '--registry', `sqlite:${join(data, 'registry.db')}`, '--data-root', data, '--admin-port', String(await freePort())]);
  });
  after(async () => {
    assert.equal(await server?.stop(), 0);
    rmSync(data, { recursive: true, force: true });
  });

  it('serves the management API on the admin listener only', async () => {
    assert.ok(server.adminUrl, 'the start-up line names the admin listener');
    for (const path of ['/v1/models', '/v1/jobs']) {
      assert.equal((await fetch(`${server.adminUrl}${path}`)).status, 200, `admin ${path}`);
      assert.equal((await fetch(`${server.url}${path}`)).status, 404, `inference port ${path}`);
    }
    const documented = async (base: string) => Object.keys(((await (await fetch(`${base}/docs/json`)).json()) as { paths: object }).paths);
    assert.ok((await documented(server.adminUrl)).includes('/v1/models'));
    assert.ok(!(await documented(server.url)).some((path) => path.startsWith('/v1/')), "the inference port's document has no /v1 routes");
    assert.equal((await fetch(`${server.url}/v2/models/mlp`)).status, 200, 'inference stays on the main port');
  });
});
