/**
 * Proves that replicas sharing one Postgres registry act as one: two server processes on the same
 * model repository folder and a fresh database (--registry-sync-ms 200). Version 2 is uploaded
 * and a rollout started through server A only; within a couple of seconds server B's routing shows
 * the canary arm and B's own answers come from the canary; with load on both, both report the
 * same rollout, it reaches succeeded, and the audit log reads the same from either server.
 * Needs MODELPORT_TEST_POSTGRES_URL (eval "$(bash scripts/start-test-postgres.sh)"); skipped
 * without it, except under CI=true, where its absence fails the test.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { EXAMPLE_MLP } from '../../scripts/generate-mlp.js';
import { buildMlpVariant } from '../../scripts/generate-test-models.js';
import { createTestDatabase, POSTGRES_URL_ENV, type TestDatabase } from '../fixtures/postgres.js';
import {
  countBy,
  createMlpRepository,
  describeFailures,
  LoadGenerator,
  ManagementClient,
  waitFor,
  type RegistryRepository,
} from '../fixtures/registry-repository.js';
import { startServers, type ServerProcess } from '../fixtures/server-process.js';

const INTERVAL_MS = 2000;
const available = Boolean(process.env[POSTGRES_URL_ENV]);
const required = process.env.CI === 'true';

let database: TestDatabase | undefined;
let repo: RegistryRepository | undefined;
const servers: ServerProcess[] = [];
let load: LoadGenerator | undefined;

after(async () => {
  await load?.stop();
  await Promise.all(servers.map((s) => s.stop()));
  repo?.cleanup();
  await database?.drop();
});

test('two servers on one Postgres registry follow one rollout started through either', { skip: !available && !required ? `${POSTGRES_URL_ENV} is not set` : false, timeout: 90_000 }, async (t) => {
  assert.ok(available, `${POSTGRES_URL_ENV} must be set when CI=true`);
  database = await createTestDatabase();
  assert.ok(database);
  repo = createMlpRepository();
  const args = repo.serverArgs([], database.url);
  // Replicas start together: both import the version folder into the same registry.
  const [a, b] = await startServers(2, args);
  servers.push(a!, b!);
  const apiA = new ManagementClient(a!.url, 'operator-a');
  const apiB = new ManagementClient(b!.url, 'operator-b');

  const versionsA = await apiA.versions();
  const versionsB = await apiB.versions();
  assert.deepEqual(versionsB.json.map((v) => [v.version, v.digest]), versionsA.json.map((v) => [v.version, v.digest]));
  assert.deepEqual(versionsA.json.map((v) => v.version), [1]);

  // Half the loops on each server.
  load = new LoadGenerator({ url: a!.url, loops: 16, plan: (loop) => ({ url: loop % 2 === 0 ? a!.url : b!.url }) }).start();
  await load.waitForRecords(300, () => true);

  const uploaded = await apiA.upload('mlp', buildMlpVariant(EXAMPLE_MLP.seed + 3));
  assert.equal(uploaded.status, 201, uploaded.text);
  assert.equal(uploaded.json.version, 2);
  await waitFor('server B to list version 2', async () => ((await apiB.versions()).json.some((v) => v.version === 2) ? true : undefined), 5000);

  const started = await apiA.post('/v1/models/mlp/rollout', { to: 2, steps: [20, 50, 100], interval_ms: INTERVAL_MS, min_requests: 10, max_error_rate: 0.01 });
  assert.equal(started.status, 201, started.text);
  const id = started.json.id as string;
  const tStarted = performance.now();

  // B picks the split up on its own.
  const routingB = await waitFor('server B to route to the canary', async () => {
    const view = await apiB.routing();
    return view.json.routing?.spec.arms.some((arm) => arm.name === 'canary' && arm.version === 2) ? view.json : undefined;
  }, 5000, 50);
  t.diagnostic(`B routes ${JSON.stringify(routingB.routing!.spec.arms)} after ${Math.round(performance.now() - tStarted)} ms`);
  await waitFor('a canary answer from server B', () => (load!.records.some((r) => r.target === b!.url && r.sentAt >= tStarted && r.arm === 'canary' && r.version === '2') ? true : undefined), 5000, 50);

  // Both report the same rollout while it runs…
  const midA = await apiA.rollout();
  const midB = await apiB.rollout();
  assert.equal(midB.json.id, id);
  assert.equal(midA.json.id, id);

  // …and when it has ended.
  const finishedA = await waitFor('the rollout to end (server A)', async () => {
    const view = await apiA.rollout();
    return view.json.status === 'running' ? undefined : view.json;
  }, 6 * INTERVAL_MS, 100);
  assert.equal(finishedA.status, 'succeeded', `${finishedA.status}: ${finishedA.reason}`);
  const finishedB = await waitFor('server B to see it succeeded', async () => {
    const view = await apiB.rollout();
    return view.json.status === 'succeeded' ? view.json : undefined;
  }, 3000, 50);
  const comparable = ({ lastAnalysis: _ignored, ...rest }: Record<string, unknown>) => rest;
  assert.deepEqual(comparable(finishedB as unknown as Record<string, unknown>), comparable(finishedA as unknown as Record<string, unknown>));

  // Both now serve version 2 alone.
  const tDone = performance.now();
  await waitFor('server B to apply the final routing', async () => {
    const view = await apiB.routing();
    return view.json.routing?.spec.arms.filter((arm) => arm.weight > 0).every((arm) => arm.version === 2) ? true : undefined;
  }, 3000, 50);
  const tBothDone = performance.now();
  await load.waitForRecords(1000, (r) => r.sentAt >= tBothDone);
  await load.stop();
  assert.equal(load.failures().length, 0, describeFailures(load.records));
  const served = countBy(load.between(tStarted, tDone), (r) => `${r.target === a!.url ? 'A' : 'B'} ${r.arm}`);
  t.diagnostic(`answers during the rollout: ${JSON.stringify([...served])}`);
  assert.ok((served.get('A canary') ?? 0) > 0 && (served.get('B canary') ?? 0) > 0, 'both servers served the canary');
  const notV2 = load.between(tBothDone).filter((r) => r.version !== '2');
  assert.deepEqual([...countBy(notV2, (r) => `${r.target === a!.url ? 'A' : 'B'} ${r.arm}@${r.version}`)], [], 'after success both answer from version 2');

  // One audit log.
  const auditA = await apiA.audit();
  const auditB = await apiB.audit();
  assert.equal(auditA.status, 200, auditA.text);
  assert.deepEqual(auditB.json, auditA.json);
  const rolloutActions = auditA.json.filter((e) => (e.details as { rollout?: string } | undefined)?.rollout === id).map((e) => e.action).reverse();
  assert.deepEqual(rolloutActions, ['rollout.start', 'rollout.step', 'rollout.step', 'rollout.succeeded']);
  assert.equal(auditA.json.filter((e) => e.action === 'version.import').length, 1, 'version 1 was imported once, not once per server');
});
