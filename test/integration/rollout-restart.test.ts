/**
 * Proves that a rollout survives a server restart: under load, a rollout to version 2 (steps 10,
 * 50, 100; 3 s intervals) is started; once it has advanced past its first step the server is
 * stopped with SIGTERM (gracefully: requests in flight are answered) and a new server is started
 * on the same repository and SQLite registry. The new server still has the rollout — same id,
 * status running, at least the step it had reached — routes the canary's share to version 2
 * straight away, and carries the rollout on to succeeded under load, after which every answer
 * comes from version 2.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { EXAMPLE_MLP } from '../../scripts/generate-mlp.js';
import { buildMlpVariant } from '../../scripts/generate-test-models.js';
import {
  countBy,
  createMlpRepository,
  describeFailures,
  LoadGenerator,
  ManagementClient,
  waitFor,
  type RegistryRepository,
} from '../fixtures/registry-repository.js';
import { startServer, type ServerProcess } from '../fixtures/server-process.js';

const INTERVAL_MS = 3000;

let repo: RegistryRepository;
let server: ServerProcess | undefined;
let load: LoadGenerator | undefined;

before(() => {
  repo = createMlpRepository();
});

after(async () => {
  await load?.stop();
  await server?.stop();
  repo?.cleanup();
});

test('a running rollout carries on to succeeded after the server restarts mid-way', { timeout: 90_000 }, async (t) => {
  server = await startServer(repo.serverArgs());
  let api = new ManagementClient(server.url);
  const uploaded = await api.upload('mlp', buildMlpVariant(EXAMPLE_MLP.seed + 7));
  assert.equal(uploaded.status, 201, uploaded.text);
  assert.equal(uploaded.json.version, 2);

  load = new LoadGenerator({ url: server.url, loops: 16 }).start();
  await load.waitForRecords(300, () => true);

  // The canary is the same network with other weights, so the latency guard has nothing to find;
  // at its default (2× the stable arm's p99) one scheduling hiccup in a 3 s interval on a busy
  // 2-core machine rolled the rollout back (canary p99 50 ms against 20 ms). What this test is
  // about is the restart, so the bound is loose.
  const started = await api.post('/v1/models/mlp/rollout', {
    to: 2, steps: [10, 50, 100], interval_ms: INTERVAL_MS, min_requests: 10, max_error_rate: 0.01, max_latency_ratio: 10,
  });
  assert.equal(started.status, 201, started.text);
  const id = started.json.id as string;

  // Past the first step, well before the end (two more intervals to go).
  const reached = await waitFor('the rollout to reach step 1', async () => {
    const view = await api.rollout();
    assert.equal(view.json.status, 'running', `rollout ended early: ${view.text}`);
    return view.json.step >= 1 ? view.json : undefined;
  }, 4 * INTERVAL_MS, 100);
  t.diagnostic(`before restart: step ${reached.step}, weight ${reached.weight}, ${reached.reason}`);

  // --- restart: the first server drains and exits 0
  await load.pause();
  const beforeStop = load.records.length;
  const code = await server.stop('SIGTERM');
  assert.equal(code, 0);
  assert.equal(load.failures().length, 0, `no request failed before the restart: ${describeFailures(load.records)}`);
  server = await startServer(repo.serverArgs());
  api = new ManagementClient(server.url);

  const resumed = await api.rollout();
  assert.equal(resumed.status, 200, resumed.text);
  t.diagnostic(`after restart: step ${resumed.json.step}, status ${resumed.json.status}`);
  assert.equal(resumed.json.id, id, 'the same rollout');
  assert.equal(resumed.json.status, 'running');
  assert.ok(resumed.json.step >= reached.step, `step ${resumed.json.step} after the restart, ${reached.step} before`);
  const routing = await api.routing();
  assert.deepEqual(routing.json.routing?.spec.arms.map((a) => a.name).sort(), ['canary', 'stable'], 'the canary split is in force again');

  load.resume(server.url);
  const tResumed = performance.now();

  const finished = await waitFor('the rollout to succeed', async () => {
    const view = await api.rollout();
    return view.json.status === 'running' ? undefined : view.json;
  }, 5 * INTERVAL_MS, 100);
  assert.equal(finished.id, id);
  assert.equal(finished.status, 'succeeded', `${finished.status}: ${finished.reason}`);
  assert.equal(finished.step, 2);

  // Every answer from version 2 once it succeeded; none failed after the restart either.
  const tDone = performance.now();
  await load.waitForRecords(1000, (r) => r.sentAt >= tDone);
  await load.stop();
  const afterRestart = load.records.slice(beforeStop);
  assert.equal(load.failures(afterRestart).length, 0, describeFailures(afterRestart));
  const served = countBy(load.between(tResumed, tDone), (r) => r.arm);
  assert.ok((served.get('canary') ?? 0) > 0, `the new server routed to the canary: ${JSON.stringify([...served])}`);
  const notV2 = load.between(tDone).filter((r) => r.version !== '2');
  assert.deepEqual([...countBy(notV2, (r) => `${r.arm}@${r.version}`)], [], 'after success every answer comes from version 2');

  // One rollout in the history, with its steps recorded in the audit log.
  const audit = await api.audit();
  const actions = audit.json.filter((e) => (e.details as { rollout?: string } | undefined)?.rollout === id).map((e) => e.action).reverse();
  assert.deepEqual(actions, ['rollout.start', 'rollout.step', 'rollout.step', 'rollout.succeeded']);
});
