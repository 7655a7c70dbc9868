/**
 * The /v1 management routes against an in-memory ManagementApi: each route's status, body and the
 * arguments it hands the service (actor, dry run, policy, upload metadata), streamed uploads,
 * schema errors that name the field, catalogue errors → status, and the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { mpError, type AliasRecord, type AuditEntry, type RoutingRecord, type RoutingSpec } from '../../core/index.js';
import type {
  Actor,
  DataPlaneApi,
  ManagementApi,
  ModelSummary,
  PublishRequest,
  RollbackRequest,
  RolloutStartRequest,
  RolloutView,
  RoutingChange,
  RoutingView,
  VersionView,
} from '../../dataplane/index.js';
import { parseTags, validationError } from './management-routes.js';
import { createRestServer, type RestServer } from './rest-server.js';

const AT = '2024-05-01T12:00:00.000Z';
/** The fake publisher's limit, to exercise 413. */
const UPLOAD_LIMIT = 1024 * 1024;

function versionView(version: number, extra: Partial<VersionView> = {}): VersionView {
  return {
    model: 'm',
    version,
    digest: `sha256:${String(version).repeat(64).slice(0, 64)}`,
    size: 10,
    createdAt: AT,
    createdBy: 'ann',
    source: 'test',
    runId: '',
    description: '',
    tags: {},
    state: 'READY',
    aliases: [],
    arms: [],
    ...extra,
  };
}

function rolloutView(status: RolloutView['status'] = 'running'): RolloutView {
  return {
    id: 'r1',
    model: 'm',
    from: 1,
    to: 2,
    policy: { steps: [10, 50, 100], intervalMs: 30_000, maxErrorRate: 0.01, maxLatencyRatio: 2, minRequests: 100 },
    status,
    step: 0,
    stepStartedAt: AT,
    startedAt: AT,
    updatedAt: AT,
    reason: '',
    revision: 1,
    weight: 10,
  };
}

type Call = [string, ...unknown[]];

/** One model "m" with versions 1 and 2, alias prod → 1, routing all on 1; records every call. */
class FakeManagement implements ManagementApi {
  calls: Call[] = [];
  currentRollout: RolloutView | undefined = rolloutView();
  aliases: AliasRecord[] = [{ model: 'm', alias: 'prod', version: 1, updatedAt: AT, updatedBy: 'ann' }];
  routingRecord: RoutingRecord = { model: 'm', spec: { seed: 's1', arms: [{ name: 'stable', version: 1, weight: 100 }] }, revision: 3, updatedAt: AT, updatedBy: 'ann' };

  #model(name: string): void {
    if (name !== 'm') throw mpError('MP_ERR_MODEL_UNKNOWN', `Request for unknown model: '${name}' is not found`);
  }
  #resolve(model: string, version: number | string): number {
    this.#model(model);
    const number = typeof version === 'number' ? version : this.aliases.find((a) => a.alias === version)?.version;
    if (number !== 1 && number !== 2) throw mpError('MP_ERR_MODEL_VERSION_UNKNOWN', `model 'm' has no version ${JSON.stringify(version)}`);
    return number;
  }

  async listModels(): Promise<ModelSummary[]> {
    this.calls.push(['listModels']);
    return [await this.model('m')];
  }
  async model(name: string): Promise<ModelSummary> {
    this.#model(name);
    return { name, versions: [versionView(1), versionView(2)], aliases: this.aliases, routing: this.routingRecord };
  }
  async listVersions(model: string): Promise<VersionView[]> {
    this.calls.push(['listVersions', model]);
    this.#model(model);
    return [versionView(1, { aliases: ['prod'], arms: ['stable'] }), versionView(2)];
  }
  async version(model: string, version: number | string): Promise<VersionView> {
    this.calls.push(['version', model, version]);
    return versionView(this.#resolve(model, version));
  }
  async publish(request: PublishRequest, actor: Actor): Promise<VersionView> {
    const { body, ...rest } = request;
    this.calls.push(['publish', rest, actor]);
    this.#model(request.model);
    // Reads the stream as a publisher does, stopping (and destroying it) once past the limit.
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > UPLOAD_LIMIT) {
        body.destroy();
        throw mpError('MP_ERR_UPLOAD_TOO_LARGE', `upload of model 'm' exceeds the limit of ${UPLOAD_LIMIT} bytes`);
      }
      hash.update(chunk as Buffer);
    }
    return versionView(3, { size, digest: `sha256:${hash.digest('hex')}`, description: `${size} bytes`, tags: request.tags ?? {}, createdBy: actor.name });
  }
  async deleteVersion(model: string, version: number, actor: Actor): Promise<void> {
    this.calls.push(['deleteVersion', model, version, actor]);
    const number = this.#resolve(model, version);
    const alias = this.aliases.find((a) => a.version === number);
    if (alias) throw mpError('MP_ERR_REGISTRY_IN_USE', `version ${number} of model 'm' is in use: alias '${alias.alias}' points at it`);
  }
  async listAliases(model: string): Promise<AliasRecord[]> {
    this.#model(model);
    return this.aliases;
  }
  async setAlias(model: string, alias: string, version: number | string, actor: Actor): Promise<AliasRecord> {
    this.calls.push(['setAlias', model, alias, version, actor]);
    return { model, alias, version: this.#resolve(model, version), updatedAt: AT, updatedBy: actor.name };
  }
  async deleteAlias(model: string, alias: string, actor: Actor): Promise<void> {
    this.calls.push(['deleteAlias', model, alias, actor]);
    this.#model(model);
    if (!this.aliases.some((a) => a.alias === alias)) throw mpError('MP_ERR_REGISTRY_ALIAS_UNKNOWN', `model 'm' has no alias '${alias}'`);
  }
  async routing(model: string): Promise<RoutingView> {
    this.#model(model);
    return { model, routing: this.routingRecord, arms: [{ arm: 'stable', version: 1, weight: 100, requests: 5, errors: 0, p99Ms: null }] };
  }
  async setRouting(model: string, spec: Omit<RoutingSpec, 'seed'> & { seed?: string }, options: { dryRun: boolean; reason?: string }, actor: Actor): Promise<RoutingChange> {
    this.calls.push(['setRouting', model, spec, options, actor]);
    this.#model(model);
    const known = new Set(['seed', 'arms', 'sticky', 'rules', 'shadow']);
    const unknown = Object.keys(spec).filter((key) => !known.has(key));
    if (unknown.length > 0) throw mpError('MP_ERR_ROUTING_INVALID', `routing of model 'm' has unknown field '${unknown[0]}'`);
    const after: RoutingSpec = { seed: spec.seed ?? 's1', ...spec };
    const routing = { ...this.routingRecord, spec: after, revision: 4, updatedBy: actor.name };
    return { dryRun: options.dryRun, before: this.routingRecord.spec, after, diff: ['arm canary: added'], ...(options.dryRun ? {} : { routing }) };
  }
  async startRollout(request: RolloutStartRequest, actor: Actor): Promise<RolloutView> {
    this.calls.push(['startRollout', request, actor]);
    this.#resolve(request.model, request.to);
    return rolloutView();
  }
  async rollout(model: string): Promise<RolloutView | undefined> {
    this.#model(model);
    return this.currentRollout;
  }
  async listRollouts(model: string): Promise<RolloutView[]> {
    this.#model(model);
    return [rolloutView('succeeded')];
  }
  async pauseRollout(model: string, actor: Actor, reason?: string): Promise<RolloutView> {
    this.calls.push(['pauseRollout', model, actor, reason]);
    if (this.currentRollout?.status !== 'running') throw mpError('MP_ERR_ROLLOUT_STATE', "model 'm' has no running rollout");
    return rolloutView('paused');
  }
  async resumeRollout(model: string, actor: Actor): Promise<RolloutView> {
    this.calls.push(['resumeRollout', model, actor]);
    return rolloutView('running');
  }
  async promoteRollout(model: string, actor: Actor, reason?: string): Promise<RolloutView> {
    this.calls.push(['promoteRollout', model, actor, reason]);
    return rolloutView('succeeded');
  }
  async abortRollout(model: string, actor: Actor, reason?: string): Promise<RolloutView> {
    this.calls.push(['abortRollout', model, actor, reason]);
    return rolloutView('aborted');
  }
  async rollback(request: RollbackRequest, actor: Actor): Promise<RoutingRecord> {
    this.calls.push(['rollback', request, actor]);
    this.#model(request.model);
    return this.routingRecord;
  }
  async audit(query: { model?: string; limit?: number; until?: string }): Promise<AuditEntry[]> {
    this.calls.push(['audit', query]);
    return [{ id: 7, at: AT, actor: 'ann', model: 'm', action: 'alias.set', from: '1', to: '2', reason: 'why', details: { a: 1 } }];
  }

  last(): Call | undefined {
    return this.calls.at(-1);
  }
}

/** Just enough of a data plane for the server: metadata, and the repository index to show V2 still works. */
function stubDataPlane(): DataPlaneApi & { indexBodies: unknown[] } {
  const indexBodies: unknown[] = [];
  const unused = (): never => {
    throw new Error('not used in these tests');
  };
  return {
    indexBodies,
    isLive: () => true,
    isReady: () => true,
    serverMetadata: () => ({ name: 'modelport', version: '9.8.7', extensions: [] }),
    modelMetadata: unused,
    isModelReady: unused,
    modelConfig: unused,
    modelStatistics: unused,
    repositoryIndex: (ready: boolean) => {
      indexBodies.push(ready);
      return [{ name: 'm', version: '1', state: 'READY' }];
    },
    failureCounts: () => [],
    servingVersions: () => [],
    loadModel: unused,
    unloadModel: unused,
    infer: unused,
  };
}

let fake: FakeManagement;
let dataPlane: ReturnType<typeof stubDataPlane>;
let server: RestServer;

before(() => {
  fake = new FakeManagement();
  dataPlane = stubDataPlane();
  server = createRestServer({ dataPlane, management: fake });
});
after(async () => {
  await server.close();
});

async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await server.inject({
    method,
    url,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  const text = response.body;
  return { status: response.statusCode, headers: response.headers, text, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

describe('models and versions', () => {
  test('GET /v1/models lists summaries', async () => {
    const { status, json } = await call('GET', '/v1/models');
    assert.equal(status, 200);
    const models = json as ModelSummary[];
    assert.equal(models.length, 1);
    assert.equal(models[0]!.name, 'm');
    assert.deepEqual(models[0]!.versions.map((v) => v.version), [1, 2]);
  });

  test('GET /v1/models/:model answers the summary; an unknown model is 400 as on V2', async () => {
    assert.equal((await call('GET', '/v1/models/m')).status, 200);
    const { status, json } = await call('GET', '/v1/models/nope');
    assert.equal(status, 400);
    assert.match((json as { error: string }).error, /unknown model: 'nope'/);
  });

  test('GET versions lists every field, signature-free records included', async () => {
    const { status, json } = await call('GET', '/v1/models/m/versions');
    assert.equal(status, 200);
    assert.deepEqual(json, [versionView(1, { aliases: ['prod'], arms: ['stable'] }), versionView(2)]);
  });

  test('GET a version by number or alias', async () => {
    let response = await call('GET', '/v1/models/m/versions/2');
    assert.equal(response.status, 200);
    assert.deepEqual(fake.last(), ['version', 'm', 2]);
    response = await call('GET', '/v1/models/m/versions/prod');
    assert.equal(response.status, 200);
    assert.equal((response.json as VersionView).version, 1);
    assert.deepEqual(fake.last(), ['version', 'm', 'prod']);
  });

  test('an unknown version is 404 with the error body', async () => {
    const { status, json, headers } = await call('GET', '/v1/models/m/versions/9');
    assert.equal(status, 404);
    assert.match(String(headers['content-type']), /^application\/json/);
    assert.deepEqual(json, { error: 'model \'m\' has no version 9' });
  });

  test('DELETE a version: 204 with the actor; in use is 409; an alias is resolved first', async () => {
    let response = await call('DELETE', '/v1/models/m/versions/2', undefined, { 'x-modelport-actor': 'bob' });
    assert.equal(response.status, 204);
    assert.equal(response.text, '');
    assert.deepEqual(fake.last(), ['deleteVersion', 'm', 2, { name: 'bob' }]);

    response = await call('DELETE', '/v1/models/m/versions/prod');
    assert.equal(response.status, 409);
    assert.match((response.json as { error: string }).error, /in use: alias 'prod'/);
    assert.deepEqual(fake.last(), ['deleteVersion', 'm', 1, { name: 'api' }]);
  });
});

describe('uploads', () => {
  test('the body streams to publish; metadata comes from the query, the digest from the header', async () => {
    const file = Buffer.alloc(300_000, 7);
    const digest = `sha256:${createHash('sha256').update(file).digest('hex')}`;
    const response = await server.inject({
      method: 'POST',
      url: '/v1/models/m/versions?alias=canary&description=new&source=ci&run_id=r-42&tags=team=search,stage=%20prod',
      headers: { 'content-type': 'application/octet-stream', 'x-modelport-digest': digest, 'x-modelport-actor': 'ci-bot' },
      payload: file,
    });
    assert.equal(response.statusCode, 201);
    const view = JSON.parse(response.body) as VersionView;
    assert.equal(view.description, '300000 bytes');
    assert.equal(view.digest, digest);
    assert.equal(view.createdBy, 'ci-bot');
    assert.deepEqual(fake.last(), [
      'publish',
      { model: 'm', digest, alias: 'canary', description: 'new', source: 'ci', runId: 'r-42', tags: { team: 'search', stage: 'prod' } },
      { name: 'ci-bot' },
    ]);
  });

  test('the digest may come as a query parameter; differing header and query are refused', async () => {
    let response = await server.inject({ method: 'POST', url: '/v1/models/m/versions?digest=sha256:ab', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('x') });
    assert.equal(response.statusCode, 201);
    assert.equal((fake.last()![1] as PublishRequest).digest, 'sha256:ab');
    response = await server.inject({
      method: 'POST',
      url: '/v1/models/m/versions?digest=sha256:ab',
      headers: { 'content-type': 'application/octet-stream', 'x-modelport-digest': 'sha256:cd' },
      payload: Buffer.from('x'),
    });
    assert.equal(response.statusCode, 400);
    assert.match(JSON.parse(response.body).error, /x-modelport-digest header .* differ/);
  });

  test('an upload over the publisher\'s limit is 413', async () => {
    const response = await server.inject({
      method: 'POST',
      url: '/v1/models/m/versions',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(UPLOAD_LIMIT + 10),
    });
    assert.equal(response.statusCode, 413);
    assert.match(JSON.parse(response.body).error, /exceeds the limit/);
  });

  test('over a socket, a refused upload still gets its answer and the connection stays usable', async () => {
    const live = createRestServer({ dataPlane: stubDataPlane(), management: fake });
    const { port } = await live.listen({ host: '127.0.0.1', port: 0 });
    try {
      const chunks = Array.from({ length: 40 }, () => Buffer.alloc(64 * 1024, 1));
      const response = await fetch(`http://127.0.0.1:${port}/v1/models/m/versions`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: Readable.toWeb(Readable.from(chunks)) as unknown as RequestInit['body'],
        duplex: 'half',
      } as RequestInit);
      assert.equal(response.status, 413);
      assert.match(((await response.json()) as { error: string }).error, /exceeds the limit/);
      const again = await fetch(`http://127.0.0.1:${port}/v1/models/m/versions/1`);
      assert.equal(again.status, 200);
    } finally {
      await live.close();
    }
  });

  test('a body that is not application/octet-stream is 415; a compressed one too', async () => {
    let response = await server.inject({ method: 'POST', url: '/v1/models/m/versions', headers: { 'content-type': 'application/json' }, payload: '{}' });
    assert.equal(response.statusCode, 415);
    response = await server.inject({
      method: 'POST',
      url: '/v1/models/m/versions',
      headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' },
      payload: Buffer.from('x'),
    });
    assert.equal(response.statusCode, 415);
    assert.match(JSON.parse(response.body).error, /Content-Encoding 'gzip'/);
  });

  test('no body at all is 400; a malformed tag names the parameter; unknown query parameters are refused', async () => {
    let response = await server.inject({ method: 'POST', url: '/v1/models/m/versions' });
    assert.equal(response.statusCode, 400);
    assert.match(JSON.parse(response.body).error, /application\/octet-stream/);
    response = await server.inject({ method: 'POST', url: '/v1/models/m/versions?tags=a=1,oops', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('x') });
    assert.equal(response.statusCode, 400);
    assert.match(JSON.parse(response.body).error, /query parameter 'tags': 'oops'/);
    response = await server.inject({ method: 'POST', url: '/v1/models/m/versions?runid=1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('x') });
    assert.equal(response.statusCode, 400);
    assert.equal(JSON.parse(response.body).error, "query parameter 'runid' is not a known field");
  });
});

describe('aliases', () => {
  test('GET lists aliases', async () => {
    const { status, json } = await call('GET', '/v1/models/m/aliases');
    assert.equal(status, 200);
    assert.deepEqual(json, fake.aliases);
  });

  test('PUT points an alias: numbers, digit strings and aliases', async () => {
    let response = await call('PUT', '/v1/models/m/aliases/canary', { version: 2 }, { 'x-modelport-actor': 'ann' });
    assert.equal(response.status, 200);
    assert.deepEqual(response.json, { model: 'm', alias: 'canary', version: 2, updatedAt: AT, updatedBy: 'ann' });
    assert.deepEqual(fake.last(), ['setAlias', 'm', 'canary', 2, { name: 'ann' }]);
    await call('PUT', '/v1/models/m/aliases/canary', { version: '2' });
    assert.deepEqual(fake.last(), ['setAlias', 'm', 'canary', 2, { name: 'api' }]);
    response = await call('PUT', '/v1/models/m/aliases/canary', { version: 'prod' });
    assert.equal((response.json as AliasRecord).version, 1);
  });

  test('PUT with a bad body names the field', async () => {
    let response = await call('PUT', '/v1/models/m/aliases/canary', {});
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, 'body.version is required');
    response = await call('PUT', '/v1/models/m/aliases/canary', { version: true });
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, 'body.version must be integer or string');
    response = await call('PUT', '/v1/models/m/aliases/canary', { version: 1, verison: 2 });
    assert.equal((response.json as { error: string }).error, 'body.verison is not a known field');
  });

  test('DELETE answers 204; an unknown alias is 404', async () => {
    let response = await call('DELETE', '/v1/models/m/aliases/prod');
    assert.equal(response.status, 204);
    assert.deepEqual(fake.last(), ['deleteAlias', 'm', 'prod', { name: 'api' }]);
    response = await call('DELETE', '/v1/models/m/aliases/nope');
    assert.equal(response.status, 404);
  });
});

describe('routing', () => {
  test('GET answers the view, null p99 included', async () => {
    const { status, json } = await call('GET', '/v1/models/m/routing');
    assert.equal(status, 200);
    assert.equal((json as RoutingView).routing?.revision, 3);
    assert.equal((json as RoutingView).arms[0]!.p99Ms, null);
  });

  test('PUT applies a spec; the reason is not part of it; dry_run is a query flag', async () => {
    const spec = { arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }], sticky: { header: 'x-user' } };
    let response = await call('PUT', '/v1/models/m/routing', { ...spec, reason: 'canary' }, { 'x-modelport-actor': 'ann' });
    assert.equal(response.status, 200);
    assert.equal((response.json as RoutingChange).dryRun, false);
    assert.equal((response.json as RoutingChange).routing?.revision, 4);
    assert.deepEqual(fake.last(), ['setRouting', 'm', spec, { dryRun: false, reason: 'canary' }, { name: 'ann' }]);

    response = await call('PUT', '/v1/models/m/routing?dry_run=true', spec);
    assert.equal(response.status, 200);
    assert.equal((response.json as RoutingChange).dryRun, true);
    assert.deepEqual((response.json as RoutingChange).diff, ['arm canary: added']);
    assert.deepEqual(fake.last(), ['setRouting', 'm', spec, { dryRun: true }, { name: 'api' }]);
  });

  test('unknown keys reach setRouting, which names them (MP_ERR_ROUTING_INVALID → 400)', async () => {
    const response = await call('PUT', '/v1/models/m/routing', { arms: [{ name: 'stable', version: 1, weight: 100 }], mirror: { version: 2 } });
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, "routing of model 'm' has unknown field 'mirror'");
  });

  test('type errors in the spec and bad flags name the field', async () => {
    let response = await call('PUT', '/v1/models/m/routing', { arms: [{ name: 'stable', version: 1, weight: 'all' }] });
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, 'body.arms[0].weight must be number');
    response = await call('PUT', '/v1/models/m/routing', { seed: 's' });
    assert.equal((response.json as { error: string }).error, 'body.arms is required');
    response = await call('PUT', '/v1/models/m/routing?dry_run=maybe', { arms: [] });
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, "query parameter 'dry_run' must be boolean");
    // A misspelt dry-run flag must not apply the change.
    response = await call('PUT', '/v1/models/m/routing?dryrun=true', { arms: [] });
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, "query parameter 'dryrun' is not a known field");
  });
});

describe('rollouts', () => {
  test('GET rollout answers the current one, or 404 when there is none', async () => {
    let response = await call('GET', '/v1/models/m/rollout');
    assert.equal(response.status, 200);
    assert.equal((response.json as RolloutView).id, 'r1');
    fake.currentRollout = undefined;
    try {
      response = await call('GET', '/v1/models/m/rollout');
      assert.equal(response.status, 404);
      assert.deepEqual(response.json, { error: "model 'm' has no rollout" });
    } finally {
      fake.currentRollout = rolloutView();
    }
  });

  test('GET rollouts lists them', async () => {
    const { status, json } = await call('GET', '/v1/models/m/rollouts');
    assert.equal(status, 200);
    assert.equal((json as RolloutView[])[0]!.status, 'succeeded');
  });

  test('POST rollout starts one: 201, snake_case options become the policy', async () => {
    const response = await call(
      'POST',
      '/v1/models/m/rollout',
      { to: 'prod', steps: [10, 25, 100], interval_ms: 5000, max_error_rate: 0.02, max_p99_ms: 50, max_latency_ratio: 1.5, min_requests: 20 },
      { 'x-modelport-actor': 'ann' },
    );
    assert.equal(response.status, 201);
    assert.equal((response.json as RolloutView).status, 'running');
    assert.deepEqual(fake.last(), [
      'startRollout',
      { model: 'm', to: 'prod', policy: { steps: [10, 25, 100], intervalMs: 5000, maxErrorRate: 0.02, maxP99Ms: 50, maxLatencyRatio: 1.5, minRequests: 20 } },
      { name: 'ann' },
    ]);
    await call('POST', '/v1/models/m/rollout', { to: 2 });
    assert.deepEqual(fake.last(), ['startRollout', { model: 'm', to: 2 }, { name: 'api' }]);
  });

  test('POST rollout with bad options names them', async () => {
    let response = await call('POST', '/v1/models/m/rollout', { steps: [10, 100] });
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, 'body.to is required');
    response = await call('POST', '/v1/models/m/rollout', { to: 2, stpes: [10] });
    assert.equal((response.json as { error: string }).error, 'body.stpes is not a known field');
    response = await call('POST', '/v1/models/m/rollout', { to: 2, max_error_rate: 2 });
    assert.equal((response.json as { error: string }).error, 'body.max_error_rate must be <= 1');
    response = await call('POST', '/v1/models/m/rollout', { to: 2, interval_ms: 1.5 });
    assert.equal((response.json as { error: string }).error, 'body.interval_ms must be integer');
  });

  test('pause, resume, promote and abort pass the reason; a body is optional', async () => {
    let response = await call('POST', '/v1/models/m/rollout/pause', { reason: 'looking' }, { 'x-modelport-actor': 'ann' });
    assert.equal(response.status, 200);
    assert.equal((response.json as RolloutView).status, 'paused');
    assert.deepEqual(fake.last(), ['pauseRollout', 'm', { name: 'ann' }, 'looking']);

    response = await call('POST', '/v1/models/m/rollout/resume');
    assert.equal(response.status, 200);
    assert.deepEqual(fake.last(), ['resumeRollout', 'm', { name: 'api' }]);

    response = await call('POST', '/v1/models/m/rollout/promote', {});
    assert.equal((response.json as RolloutView).status, 'succeeded');
    assert.deepEqual(fake.last(), ['promoteRollout', 'm', { name: 'api' }, undefined]);

    response = await call('POST', '/v1/models/m/rollout/abort', { reason: 'p99' });
    assert.equal((response.json as RolloutView).status, 'aborted');
    assert.deepEqual(fake.last(), ['abortRollout', 'm', { name: 'api' }, 'p99']);

    response = await call('POST', '/v1/models/m/rollout/abort', { why: 'p99' });
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, 'body.why is not a known field');
  });

  test('a transition the state forbids is 409', async () => {
    fake.currentRollout = rolloutView('succeeded');
    try {
      const response = await call('POST', '/v1/models/m/rollout/pause');
      assert.equal(response.status, 409);
      assert.deepEqual(response.json, { error: "model 'm' has no running rollout" });
    } finally {
      fake.currentRollout = rolloutView();
    }
  });

  test('POST rollback passes to, at and reason, all optional', async () => {
    let response = await call('POST', '/v1/models/m/rollback', { to: '1', at: AT, reason: 'bad' }, { 'x-modelport-actor': 'ann' });
    assert.equal(response.status, 200);
    assert.equal((response.json as RoutingRecord).revision, 3);
    assert.deepEqual(fake.last(), ['rollback', { model: 'm', to: 1, at: AT, reason: 'bad' }, { name: 'ann' }]);
    response = await call('POST', '/v1/models/m/rollback');
    assert.equal(response.status, 200);
    assert.deepEqual(fake.last(), ['rollback', { model: 'm' }, { name: 'api' }]);
  });
});

describe('audit', () => {
  test('GET /v1/audit passes the filters', async () => {
    let response = await call('GET', `/v1/audit?model=m&limit=5&until=${encodeURIComponent(AT)}`);
    assert.equal(response.status, 200);
    assert.equal((response.json as AuditEntry[])[0]!.action, 'alias.set');
    assert.deepEqual((response.json as AuditEntry[])[0]!.details, { a: 1 });
    assert.deepEqual(fake.last(), ['audit', { model: 'm', limit: 5, until: AT }]);
    response = await call('GET', '/v1/audit');
    assert.deepEqual(fake.last(), ['audit', {}]);
  });

  test('a bad limit names the parameter', async () => {
    let response = await call('GET', '/v1/audit?limit=0');
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, "query parameter 'limit' must be >= 1");
    response = await call('GET', '/v1/audit?limit=ten');
    assert.equal((response.json as { error: string }).error, "query parameter 'limit' must be integer");
  });
});

describe('request bodies', () => {
  test('invalid JSON is 400 saying so', async () => {
    const response = await server.inject({ method: 'PUT', url: '/v1/models/m/aliases/x', headers: { 'content-type': 'application/json' }, payload: '{"version":' });
    assert.equal(response.statusCode, 400);
    assert.match(JSON.parse(response.body).error, /not valid JSON/);
  });

  test('a JSON array where an object belongs names the body', async () => {
    const response = await call('PUT', '/v1/models/m/aliases/x', [1]);
    assert.equal(response.status, 400);
    assert.equal((response.json as { error: string }).error, 'body must be object');
  });

  test('other content types are 415', async () => {
    const response = await server.inject({ method: 'PUT', url: '/v1/models/m/aliases/x', headers: { 'content-type': 'text/plain' }, payload: 'version=1' });
    assert.equal(response.statusCode, 415);
  });

  test('gzip JSON bodies are accepted, as on V2', async () => {
    const { gzipSync } = await import('node:zlib');
    const response = await server.inject({
      method: 'PUT',
      url: '/v1/models/m/aliases/x',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync(JSON.stringify({ version: 2 })),
    });
    assert.equal(response.statusCode, 200);
  });
});

describe('the V2 routes beside the management API', () => {
  test('still take raw bodies', async () => {
    const response = await server.inject({ method: 'POST', url: '/v2/repository/index', headers: { 'content-type': 'application/json' }, payload: '{"ready": true}' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(JSON.parse(response.body), [{ name: 'm', version: '1', state: 'READY' }]);
    assert.equal(dataPlane.indexBodies.at(-1), true);
  });

  test('unknown paths are still 404 in the error shape', async () => {
    const response = await server.inject({ url: '/v1/nope' });
    assert.equal(response.statusCode, 404);
    assert.deepEqual(JSON.parse(response.body), { error: 'Not Found' });
  });

  test('without a management API there is no /v1; /docs documents the V2 routes alone', async () => {
    const plain = createRestServer({ dataPlane: stubDataPlane() });
    try {
      assert.equal((await plain.inject({ url: '/v1/models' })).statusCode, 404);
      const docs = await plain.inject({ url: '/docs/json' });
      assert.equal(docs.statusCode, 200);
      const paths = Object.keys((JSON.parse(docs.body) as { paths: Record<string, unknown> }).paths);
      assert.ok(paths.includes('/v2/models/{name}/infer'));
      assert.ok(!paths.some((path) => path.startsWith('/v1')), paths.join(', '));
    } finally {
      await plain.close();
    }
  });
});

describe('OpenAPI', () => {
  interface Operation {
    tags?: string[];
    parameters?: Array<{ in: string; name: string }>;
    requestBody?: { content: Record<string, unknown> };
    responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
  }
  const METHODS = ['get', 'put', 'post', 'delete'] as const;
  const EXPECTED: Record<string, string[]> = {
    '/v1/models': ['get'],
    '/v1/models/{model}': ['get'],
    '/v1/models/{model}/versions': ['get', 'post'],
    '/v1/models/{model}/versions/{version}': ['get', 'delete'],
    '/v1/models/{model}/aliases': ['get'],
    '/v1/models/{model}/aliases/{alias}': ['put', 'delete'],
    '/v1/models/{model}/routing': ['get', 'put'],
    '/v1/models/{model}/rollout': ['get', 'post'],
    '/v1/models/{model}/rollouts': ['get'],
    '/v1/models/{model}/rollout/pause': ['post'],
    '/v1/models/{model}/rollout/resume': ['post'],
    '/v1/models/{model}/rollout/promote': ['post'],
    '/v1/models/{model}/rollout/abort': ['post'],
    '/v1/models/{model}/rollback': ['post'],
    '/v1/audit': ['get'],
    '/v2/health/live': ['get'],
    '/v2/health/ready': ['get'],
    '/v2': ['get'],
    '/v2/models/stats': ['get'],
    '/v2/models/{name}': ['get'],
    '/v2/models/{name}/versions/{version}': ['get'],
    '/v2/models/{name}/ready': ['get'],
    '/v2/models/{name}/versions/{version}/ready': ['get'],
    '/v2/models/{name}/config': ['get'],
    '/v2/models/{name}/versions/{version}/config': ['get'],
    '/v2/models/{name}/stats': ['get'],
    '/v2/models/{name}/versions/{version}/stats': ['get'],
    '/v2/models/{name}/infer': ['post'],
    '/v2/models/{name}/versions/{version}/infer': ['post'],
    '/v2/repository/index': ['post'],
    '/v2/repository/models/{name}/load': ['post'],
    '/v2/repository/models/{name}/unload': ['post'],
  };

  test('GET /docs/json is an OpenAPI 3 document of every V2 and /v1 route', async () => {
    const response = await server.inject({ url: '/docs/json' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const doc = JSON.parse(response.body) as { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>> };
    assert.match(doc.openapi, /^3\.0\.\d+$/);
    assert.deepEqual(doc.info.title, 'Modelport');
    assert.equal(doc.info.version, '9.8.7');
    assert.deepEqual(Object.keys(doc.paths).sort(), Object.keys(EXPECTED).sort());
    for (const [path, methods] of Object.entries(EXPECTED)) {
      assert.deepEqual(METHODS.filter((m) => doc.paths[path]![m] !== undefined).sort(), [...methods].sort(), path);
      for (const method of methods) {
        const operation = doc.paths[path]![method]!;
        assert.ok(operation.tags?.length, `${method} ${path} has a tag`);
        assert.ok(Object.keys(operation.responses).some((s) => s.startsWith('2')), `${method} ${path} documents its success`);
        // Path parameters are declared for each {name} in the path.
        for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
          assert.ok(operation.parameters?.some((p) => p.in === 'path' && p.name === name), `${method} ${path} declares {${name}}`);
        }
        for (const [status, answer] of Object.entries(operation.responses)) {
          assert.equal(typeof answer.description, 'string', `${method} ${path} ${status} has a description`);
        }
      }
    }
    // No OpenAPI 3.1-only constructs in a 3.0 document.
    assert.doesNotMatch(response.body, /"const"|"patternProperties"|"type":\s*"null"|"type":\s*\[/);
    const upload = doc.paths['/v1/models/{model}/versions']!.post!;
    assert.deepEqual(Object.keys(upload.requestBody!.content), ['application/octet-stream']);
    assert.ok(upload.parameters!.some((p) => p.in === 'header' && p.name === 'x-modelport-digest'));
    assert.ok(doc.paths['/v1/models/{model}/routing']!.put!.parameters!.some((p) => p.in === 'query' && p.name === 'dry_run'));
    assert.ok(doc.paths['/v1/models/{model}/versions/{version}']!.get!.responses['404']!.content!['application/json']);
    // JSON Schema 2020-12's numeric exclusive bounds are written the OpenAPI 3.0 way.
    assert.doesNotMatch(response.body, /"exclusiveM(in|ax)imum":\s*-?\d/);
  });

  test('the V2 routes are described, never validated: the infer body is the server\'s own to decode', async () => {
    const doc = JSON.parse((await server.inject({ url: '/docs/json' })).body) as { paths: Record<string, Record<string, Operation>> };
    const infer = doc.paths['/v2/models/{name}/versions/{version}/infer']!.post!;
    assert.deepEqual(Object.keys(infer.requestBody!.content).sort(), ['application/json', 'application/octet-stream']);
    assert.deepEqual(Object.keys(infer.responses).sort(), ['200', '400', '401', '403', '404', '413', '414', '415', '429', '500', '503']);
    assert.deepEqual(Object.keys(infer.responses['200']!.content!).sort(), ['application/json', 'application/octet-stream']);
    assert.ok(infer.parameters!.some((p) => p.in === 'header' && p.name === 'inference-header-content-length'));
    const live = doc.paths['/v2/health/live']!.get!;
    assert.equal(live.responses['200']!.content, undefined, 'health answers have no body');
    const index = doc.paths['/v2/repository/index']!.post! as Operation & { requestBody: { required: boolean } };
    assert.equal(index.requestBody.required, false, 'the index body is optional');
    // A body fastify would refuse if it validated V2 routes still reaches the data plane.
    const response = await server.inject({ method: 'POST', url: '/v2/repository/index', payload: '{"ready": true, "extra": [1]}' });
    assert.equal(response.statusCode, 200);
  });

  test('/docs serves the UI', async () => {
    const response = await server.inject({ url: '/docs' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/html/);
  });
});

describe('helpers', () => {
  test('parseTags splits pairs, trims, keeps "=" inside values and accepts repeats', () => {
    assert.deepEqual(parseTags('a=1, b = x=y ,,'), { a: '1', b: 'x=y' });
    assert.deepEqual(parseTags(['a=1', 'c=']), { a: '1', c: '' });
    assert.equal(parseTags(undefined), undefined);
    assert.throws(() => parseTags('=1'), /'=1' is not a key=value pair/);
  });

  test('validationError names headers and path parameters too', () => {
    const error = validationError([{ keyword: 'type', instancePath: '/x-modelport-actor', schemaPath: '#', params: { type: 'string' }, message: 'must be string' }], 'headers');
    assert.equal(error.message, "header 'x-modelport-actor' must be string");
    const anyOf = validationError(
      [
        { keyword: 'const', instancePath: '/status', schemaPath: '#/properties/status/anyOf/0', params: { allowedValue: 'a' }, message: 'must be equal to constant' },
        { keyword: 'const', instancePath: '/status', schemaPath: '#/properties/status/anyOf/1', params: { allowedValue: 'b' }, message: 'must be equal to constant' },
        { keyword: 'anyOf', instancePath: '/status', schemaPath: '#/properties/status', params: {}, message: 'must match a schema in anyOf' },
      ],
      'body',
    );
    assert.equal(anyOf.message, 'body.status must be one of "a", "b"');
  });
});
