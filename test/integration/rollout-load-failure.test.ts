/**
 * Proves that a candidate version that cannot be loaded never receives traffic. The repository
 * holds version 1 (the example MLP) and a version 2 whose model.onnx is random bytes, with
 * version_policy {"all": {}}: version 1 serves, version 2 fails to load, and the registry still
 * imports both folders at start. Under continuous load, POST rollout to version 2 and PUT routing
 * with a canary on version 2 are both refused with a 4xx that names the load failure; the routing
 * is exactly what it was, and every request is answered by version 1 without a single failure.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import {
  countBy,
  createMlpRepository,
  describeFailures,
  LoadGenerator,
  ManagementClient,
  type RegistryRepository,
} from '../fixtures/registry-repository.js';
import { startServer, type ServerProcess } from '../fixtures/server-process.js';

let repo: RegistryRepository;
let server: ServerProcess;
let load: LoadGenerator | undefined;

before(async () => {
  repo = createMlpRepository({ versions: { 2: randomBytes(64 * 1024) }, config: { version_policy: { all: {} } } });
  server = await startServer(repo.serverArgs());
});

after(async () => {
  await load?.stop();
  await server?.stop();
  repo?.cleanup();
});

test('a version that fails to load is refused as a rollout target and as a canary, and never serves', { timeout: 60_000 }, async (t) => {
  const api = new ManagementClient(server.url);

  // Both folders are registered; version 2 is not serving.
  const versions = await api.versions();
  assert.equal(versions.status, 200, versions.text);
  assert.deepEqual(versions.json.map((v) => v.version), [1, 2]);
  assert.equal(versions.json[0]!.state, 'READY');
  assert.notEqual(versions.json[1]!.state, 'READY');

  load = new LoadGenerator({ url: server.url, loops: 16 }).start();
  const tStart = performance.now();
  await load.waitForRecords(500, () => true);
  const routingBefore = await api.routing();
  assert.equal(routingBefore.status, 200, routingBefore.text);
  const auditBefore = await api.audit();

  // --- a rollout to the broken version
  const rollout = await api.post('/v1/models/mlp/rollout', { to: 2, steps: [10, 100], interval_ms: 1000, min_requests: 5 });
  t.diagnostic(`POST rollout: ${rollout.status} ${rollout.text}`);
  assert.equal(rollout.status, 409, rollout.text);
  assert.match(rollout.json.error, /version 2/);
  assert.match(rollout.json.error, /load|protobuf|parse|onnx/i, `the error names the load failure: ${rollout.json.error}`);
  // Traffic goes on after the refusal. (The time is taken once: read inside the filter, it asked
  // for 300 answers each sent within 10 ms of being counted, which a busy machine never gave.)
  const tRefused = performance.now();
  await load.waitForRecords(300, (r) => r.sentAt >= tRefused);

  // --- a canary on the broken version
  const routing = await api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }] });
  t.diagnostic(`PUT routing: ${routing.status} ${routing.text}`);
  assert.ok(routing.status >= 400 && routing.status < 500, `expected 4xx, got ${routing.status}: ${routing.text}`);
  assert.equal(routing.status, 409, routing.text);
  assert.match(routing.json.error, /version 2/);
  const tAfter = performance.now();
  await load.waitForRecords(1500, (r) => r.sentAt >= tAfter);

  // --- nothing changed: routing, rollouts, audit
  const routingAfter = await api.routing();
  assert.deepEqual(routingAfter.json.routing, routingBefore.json.routing, 'the routing is unchanged');
  assert.deepEqual(routingAfter.json.routing?.spec.arms.map((a) => a.version) ?? [], routingBefore.json.routing?.spec.arms.map((a) => a.version) ?? []);
  const rollouts = await api.get('/v1/models/mlp/rollouts');
  assert.deepEqual(rollouts.json, [], 'no rollout was recorded');
  const auditAfter = await api.audit();
  assert.deepEqual(auditAfter.json, auditBefore.json, 'nothing was written to the audit log');

  await load.stop();
  const records = load.between(tStart);
  assert.equal(load.failures().length, 0, describeFailures(load.records));
  const notV1 = records.filter((r) => r.version !== '1');
  assert.deepEqual([...countBy(notV1, (r) => `${r.arm}@${r.version}`)], [], 'every answer came from version 1');
  assert.ok(records.length >= 2000, `${records.length} requests`);

  // Version 1 still serves; version 2 still does not.
  const after = await api.versions();
  assert.equal(after.json[0]!.state, 'READY');
  assert.notEqual(after.json[1]!.state, 'READY');
});
