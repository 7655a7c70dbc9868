/**
 * Proves that a progressive rollout rolls itself back, without an operator, when the candidate is
 * bad — and does so within its first step, as soon as the canary has min_requests requests rather
 * than at the end of the interval: (a) a candidate that fails at run time on some rows (the
 * faulty MLP; ~30% of the load sends such rows) breaches max_error_rate; (b) a candidate that is
 * much slower than the stable version (the slow MLP) breaches max_latency_ratio. In both cases
 * GET rollout shows rolled_back at step 0 with a reason naming the breach, the audit log has the
 * 'rollout.rolled_back' entry with that reason, and afterwards every answer comes from version 1.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { afterEach, test } from 'node:test';
import { buildFaultyMlp, buildSlowMlp } from '../../scripts/generate-test-models.js';
import {
  countBy,
  createMlpRepository,
  describeFailures,
  LoadGenerator,
  ManagementClient,
  waitFor,
  type RegistryRepository,
  type RolloutJson,
} from '../fixtures/registry-repository.js';
import { startServer, type ServerProcess } from '../fixtures/server-process.js';

const INTERVAL_MS = 2000;

let repo: RegistryRepository | undefined;
let server: ServerProcess | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await server?.stop();
  repo?.cleanup();
  load = undefined;
  server = undefined;
  repo = undefined;
});

interface Scenario {
  candidate: Uint8Array;
  /** Share of requests whose first feature is 0.9 (the faulty model fails them). */
  badShare: number;
  policy: Record<string, unknown>;
}

async function rollOutAndWatch(scenario: Scenario): Promise<{ rollout: RolloutJson; elapsedMs: number; api: ManagementClient }> {
  repo = createMlpRepository();
  server = await startServer(repo.serverArgs());
  const api = new ManagementClient(server.url);
  const uploaded = await api.upload('mlp', scenario.candidate, { query: { description: 'candidate' } });
  assert.equal(uploaded.status, 201, uploaded.text);
  assert.equal(uploaded.json.version, 2);

  load = new LoadGenerator({
    url: server.url,
    loops: 16,
    plan: (loop, seq) => ({ bad: scenario.badShare > 0 && (loop * 7 + seq) % 10 < scenario.badShare * 10 }),
  }).start();
  await load.waitForRecords(300, () => true);
  assert.equal(load.failures().length, 0, `version 1 answers every row: ${describeFailures(load.records)}`);

  const started = await api.post('/v1/models/mlp/rollout', { to: 2, steps: [50, 100], interval_ms: INTERVAL_MS, min_requests: 20, ...scenario.policy });
  assert.equal(started.status, 201, started.text);
  assert.equal(started.json.status, 'running');
  assert.equal(started.json.step, 0);
  assert.equal(started.json.weight, 50);
  const tStarted = performance.now();

  // Two intervals at most: the breach must not wait for the first interval to pass.
  const rollout = await waitFor('the rollout to end', async () => {
    const view = await api.rollout();
    assert.equal(view.status, 200, view.text);
    return view.json.status === 'running' ? undefined : view.json;
  }, 2 * INTERVAL_MS, 50);
  const elapsedMs = performance.now() - tStarted;
  assert.equal(rollout.id, started.json.id);
  return { rollout, elapsedMs, api };
}

async function assertRolledBack(api: ManagementClient, rollout: RolloutJson, reason: RegExp): Promise<void> {
  assert.equal(rollout.status, 'rolled_back', `status ${rollout.status}: ${rollout.reason}`);
  assert.equal(rollout.step, 0, 'rolled back in the first step, before it could advance');
  assert.match(rollout.reason, reason);

  // The audit log has the automatic rollback, with the same reason, newest first.
  const audit = await api.audit();
  assert.equal(audit.status, 200, audit.text);
  const entry = audit.json.find((e) => e.action === 'rollout.rolled_back');
  assert.ok(entry, `no rollout.rolled_back entry in ${audit.json.map((e) => e.action).join(', ')}`);
  assert.equal(entry.reason, rollout.reason);
  assert.equal(entry.from, '1');
  assert.equal(entry.to, '2');
  assert.equal(audit.json[0]!.action, 'rollout.rolled_back');

  // The routing is back on version 1 alone.
  const routing = await api.routing();
  assert.deepEqual(routing.json.routing?.spec.arms, [{ name: 'stable', version: 1, weight: 100 }]);

  // From now on every answer comes from version 1, bad rows included.
  const tAfter = performance.now();
  await load!.waitForRecords(1000, (r) => r.sentAt >= tAfter);
  await load!.stop();
  const afterwards = load!.between(tAfter);
  assert.equal(load!.failures(afterwards).length, 0, describeFailures(afterwards));
  const notV1 = afterwards.filter((r) => r.version !== '1' || r.arm !== 'stable');
  assert.deepEqual([...countBy(notV1, (r) => `${r.arm}@${r.version}`)], [], 'after the rollback every answer comes from version 1');
}

test('a candidate that fails at run time is rolled back within its first step on the error rate', { timeout: 60_000 }, async (t) => {
  const { rollout, elapsedMs, api } = await rollOutAndWatch({
    candidate: buildFaultyMlp(),
    badShare: 0.3,
    policy: { max_error_rate: 0.05 },
  });
  t.diagnostic(`${rollout.status} after ${Math.round(elapsedMs)} ms: ${rollout.reason}`);
  assert.ok(elapsedMs < 2 * INTERVAL_MS, `rolled back after ${Math.round(elapsedMs)} ms`);
  await assertRolledBack(api, rollout, /error rate .* exceeds the limit 5%/);
  // The canary did fail requests before the rollback: the breach was real.
  assert.ok(load!.records.some((r) => r.status !== 200), 'the faulty canary failed some requests before it was rolled back');
});

test('a candidate much slower than the stable version is rolled back within its first step on latency', { timeout: 60_000 }, async (t) => {
  const { rollout, elapsedMs, api } = await rollOutAndWatch({
    candidate: buildSlowMlp(),
    badShare: 0,
    policy: { max_latency_ratio: 2, max_error_rate: 0.05 },
  });
  t.diagnostic(`${rollout.status} after ${Math.round(elapsedMs)} ms: ${rollout.reason}`);
  assert.ok(elapsedMs < 2 * INTERVAL_MS, `rolled back after ${Math.round(elapsedMs)} ms`);
  await assertRolledBack(api, rollout, /canary p99 latency .* (is more than 2× the stable arm's|exceeds the limit)/);
  assert.equal(load!.failures().length, 0, `a slow canary fails nothing: ${describeFailures(load!.records)}`);
});
