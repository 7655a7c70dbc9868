/**
 * Proves that the management API refuses bad input with a 4xx whose {"error"} names the problem,
 * and that a refused request changes nothing: for each case, GET versions, GET routing, GET
 * /v1/audit and a listing of the model repository folder (and of the folder around it) are the
 * same before and after. Cases: routing with an unknown version, weights that do not sum to 100,
 * an alias to a version that does not exist, reserved alias names (latest, v2) set directly or
 * through an upload, an upload that is not ONNX, an upload whose digest is wrong, a model name
 * with "../" in it (URL-encoded) on reads, uploads, routing and aliases, and deleting a version
 * an alias points at (409).
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXAMPLE_MLP } from '../../scripts/generate-mlp.js';
import { buildMlpVariant } from '../../scripts/generate-test-models.js';
import {
  createMlpRepository,
  listTree,
  ManagementClient,
  postThenReuse,
  sha256Digest,
  type ApiAnswer,
  type RegistryRepository,
} from '../fixtures/registry-repository.js';
import { startServer, type ServerProcess } from '../fixtures/server-process.js';

let repo: RegistryRepository;
let server: ServerProcess;
let api: ManagementClient;
const v2 = buildMlpVariant(EXAMPLE_MLP.seed + 11);

before(async () => {
  repo = createMlpRepository();
  server = await startServer(repo.serverArgs());
  api = new ManagementClient(server.url);
  // A known state to refuse changes to: version 2 uploaded with alias 'candidate', canary 10%.
  const uploaded = await api.upload('mlp', v2, { query: { alias: 'candidate' } });
  assert.equal(uploaded.status, 201, uploaded.text);
  const routed = await api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }] });
  assert.equal(routed.status, 200, routed.text);
});

after(async () => {
  if (server) {
    // A connection left mid-upload (see refusedUpload) holds a graceful stop for about a minute;
    // past 15 s a second SIGTERM makes the server exit at once, so this file never waits on it.
    const stopped = await Promise.race([server.stop(), sleep(15_000).then(() => 'slow' as const)]);
    if (stopped === 'slow') {
      process.stderr.write('management-api-errors: the server did not stop within 15 s of SIGTERM (a connection stuck mid-upload?); sent a second SIGTERM\n');
      server.child.kill('SIGTERM');
      await server.stop();
    }
  }
  repo?.cleanup();
});

interface Snapshot {
  versions: unknown;
  aliases: unknown;
  routing: unknown;
  audit: unknown;
  tree: string[];
  outside: string[];
}

async function snapshot(): Promise<Snapshot> {
  const [versions, aliases, routing, audit] = await Promise.all([api.versions(), api.get('/v1/models/mlp/aliases'), api.routing(), api.get('/v1/audit')]);
  for (const answer of [versions, aliases, routing, audit]) assert.equal(answer.status, 200, answer.text);
  return { versions: versions.json, aliases: aliases.json, routing: routing.json, audit: audit.json, tree: listTree(repo.root), outside: listTree(dirname(repo.root)) };
}

/** Runs `request`, checks it is refused with `status` and a message matching `message`, and that nothing changed. */
async function refused(request: () => Promise<ApiAnswer>, status: number | 'any4xx', message: RegExp): Promise<ApiAnswer> {
  const before = await snapshot();
  const answer = await request();
  if (status === 'any4xx') assert.ok(answer.status >= 400 && answer.status < 500, `expected a 4xx, got ${answer.status}: ${answer.text}`);
  else assert.equal(answer.status, status, answer.text);
  assert.equal(typeof answer.json?.error, 'string', `an {"error"} body: ${answer.text}`);
  assert.match(answer.json.error, message);
  const afterwards = await snapshot();
  assert.deepEqual(afterwards.versions, before.versions, 'versions unchanged');
  assert.deepEqual(afterwards.aliases, before.aliases, 'aliases unchanged');
  assert.deepEqual(afterwards.routing, before.routing, 'routing unchanged');
  assert.deepEqual(afterwards.audit, before.audit, 'audit log unchanged');
  assert.deepEqual(afterwards.tree, before.tree, 'model repository folder unchanged');
  assert.deepEqual(afterwards.outside, before.outside, 'nothing written beside the repository');
  return answer;
}

/**
 * An upload the server refuses before reading its body (the name, alias or digest format is
 * wrong): refused like any other, and the connection must stay usable — the server has to read
 * and drop the rest of the body, or the client is left mid-upload and a graceful stop waits on it.
 */
async function refusedUpload(path: string, headers: Record<string, string>, status: number | 'any4xx', message: RegExp): Promise<void> {
  let reusable = true;
  await refused(async () => {
    const answer = await postThenReuse(`${server.url}${path}`, BIG_UPLOAD, { 'content-type': 'application/octet-stream', ...headers }, `${server.url}/v2/health/live`, 5000);
    reusable = answer.reusable;
    return answer;
  }, status, message);
  assert.ok(reusable, `after answering ${path} early the server must still read the rest of the upload: the next request on the same connection got no answer within 5 s`);
}

/** 24 MiB: more than socket buffers hold, so a server that stops reading stalls the upload. */
const BIG_UPLOAD = new Uint8Array(24 * 1024 * 1024).fill(7);

function rawRequest(method: string, url: string): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, text, json });
      });
    });
    request.on('error', reject);
    request.end();
  });
}

const canaryOn = (version: number) => ({ arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version, weight: 10 }] });

test('routing with an unknown version: 404 naming the version', async () => {
  await refused(() => api.setRouting(canaryOn(7)), 404, /version 7/);
  // A dry run is refused the same way.
  await refused(() => api.setRouting(canaryOn(7), 'mlp', true), 404, /version 7/);
});

test('routing whose weights sum to 90: 400 naming the sum', async () => {
  await refused(() => api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 80 }, { name: 'canary', version: 2, weight: 10 }] }), 400, /sum to 90.*expected 100/);
});

test('routing with an unknown field or no stable arm: 400 naming it', async () => {
  await refused(() => api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 100 }], stciky: { header: 'x' } }), 400, /stciky/);
  await refused(() => api.setRouting({ arms: [{ name: 'main', version: 1, weight: 100 }] }), 400, /stable/);
});

test('an alias to a version that does not exist: 404 naming the version', async () => {
  await refused(() => api.put('/v1/models/mlp/aliases/production', { version: 9 }), 404, /version 9/);
  await refused(() => api.put('/v1/models/mlp/aliases/production', { version: 'nonexistent-alias' }), 404, /nonexistent-alias/);
});

test('reserved alias names are refused: latest, v2 (set directly or through an upload)', async () => {
  await refused(() => api.put('/v1/models/mlp/aliases/latest', { version: 1 }), 400, /'latest'.*reserved/);
  await refused(() => api.put('/v1/models/mlp/aliases/v2', { version: 1 }), 400, /'v2'.*reserved/);
  await refused(() => api.put('/v1/models/mlp/aliases/42', { version: 1 }), 400, /number/);
  // An upload that would set a reserved alias registers nothing.
  await refusedUpload('/v1/models/mlp/versions?alias=latest', {}, 400, /'latest'.*reserved/);
});

test('an upload that is not an ONNX model: 400, nothing registered or written', async () => {
  const bytes = new TextEncoder().encode('this is a CSV file,not,a,model\n1,2,3\n');
  await refused(() => api.upload('mlp', bytes), 400, /not a loadable model/);
  // Neither is an empty one.
  await refused(() => api.upload('mlp', new Uint8Array(0)), 400, /empty/);
});

test('an upload whose digest is wrong: 400 naming both digests', async () => {
  const bytes = buildMlpVariant(EXAMPLE_MLP.seed + 13);
  const wrong = `sha256:${'0'.repeat(64)}`;
  const answer = await refused(() => api.upload('mlp', bytes, { digest: wrong }), 400, /digest/);
  assert.ok(answer.json.error.includes(sha256Digest(bytes)) && answer.json.error.includes(wrong), answer.json.error);
  await refusedUpload('/v1/models/mlp/versions', { 'x-modelport-digest': 'md5:abc' }, 400, /malformed/);
});

test('a model name with ../ in it is refused on every route, and nothing is written outside the repository', async () => {
  const evil = encodeURIComponent('../etc');
  await refused(() => api.get(`/v1/models/${evil}/versions`), 'any4xx', /invalid model name/);
  await refused(() => api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 100 }] }, evil), 'any4xx', /invalid model name/);
  await refused(() => api.put(`/v1/models/${evil}/aliases/production`, { version: 1 }), 'any4xx', /invalid model name/);
  await refused(() => api.post(`/v1/models/${evil}/rollout`, { to: 1 }), 'any4xx', /invalid model name/);
  await refused(() => api.post(`/v1/models/${evil}/rollback`, { to: 1 }), 'any4xx', /invalid model name/);
  // fetch would resolve "%2E%2E" to ".." and drop the segment; node:http sends the path as it is
  // (the router may treat it as no route at all: any 4xx will do, as long as nothing happens).
  await refused(() => rawRequest('GET', `${server.url}/v1/models/%2E%2E/versions`), 'any4xx', /invalid model name|Not Found/);
  // Last, as in the other cases: an upload, refused before its body is read.
  await refusedUpload(`/v1/models/${evil}/versions`, {}, 'any4xx', /invalid model name/);
});

test('deleting a version an alias points at: 409 naming the alias', async () => {
  // Version 3, never served, held only by the alias 'beta'.
  const uploaded = await api.upload('mlp', buildMlpVariant(EXAMPLE_MLP.seed + 15), { query: { alias: 'beta' } });
  assert.equal(uploaded.status, 201, uploaded.text);
  assert.equal(uploaded.json.version, 3);
  await refused(() => api.delete('/v1/models/mlp/versions/3'), 409, /alias 'beta'/);
  // By alias, the same.
  await refused(() => api.delete('/v1/models/mlp/versions/beta'), 409, /alias 'beta'/);
  // Version 2 is the canary and has the alias 'candidate': both uses are named.
  await refused(() => api.delete('/v1/models/mlp/versions/2'), 409, /'candidate'.*canary|canary.*'candidate'/);
});
