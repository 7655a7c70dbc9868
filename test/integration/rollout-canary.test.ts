/**
 * Proves, against a real server under continuous load (16 client loops, keep-alive, JSON infer
 * requests for the whole test), that releasing a new model version never fails a request and
 * that traffic goes where the routing says: version 2 is uploaded through POST /v1/models/mlp/versions
 * (nothing changes for clients), routing moves canary 10% → 50% → 100%, POST rollback brings
 * every answer back to version 1, and a shadow phase mirrors requests to version 2 while every
 * answer still comes from version 1. Per phase, only requests sent after the switch returned and
 * finished before the next switch began count. At 10% and 50% the share of x-modelport-arm=canary
 * among ≥ 4000 unkeyed requests is the weight ± 3 points; requests keyed with x-modelport-key stay
 * on one arm within a phase, and keys on the canary at 10% are still on it at 50% (same seed).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { buildMlpVariant } from '../../scripts/generate-test-models.js';
import { EXAMPLE_MLP } from '../../scripts/generate-mlp.js';
import {
  countBy,
  createMlpRepository,
  describeFailures,
  LoadGenerator,
  ManagementClient,
  sha256Digest,
  waitFor,
  type InferRecord,
  type RegistryRepository,
} from '../fixtures/registry-repository.js';
import { startServer, type ServerProcess } from '../fixtures/server-process.js';

const LOOPS = 16;
/** Loops 12–15 send x-modelport-key: user-<k>; the other 12 send no key and measure the split. */
const KEYED_FROM = 12;
const KEYS_PER_LOOP = 50;
const SHARE_SAMPLE = 4000;
const TOLERANCE = 0.03;
const STICKY = { header: 'x-modelport-key' };

let repo: RegistryRepository;
let server: ServerProcess;
let load: LoadGenerator | undefined;

before(async () => {
  repo = createMlpRepository();
  server = await startServer(repo.serverArgs());
});

after(async () => {
  await load?.stop();
  await server?.stop();
  repo?.cleanup();
});

/** key → the set of arms its requests landed on. */
function armsByKey(records: InferRecord[]): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  for (const r of records) {
    if (r.key === undefined || r.status !== 200) continue;
    let arms = map.get(r.key);
    if (!arms) map.set(r.key, (arms = new Set()));
    arms.add(r.arm ?? '(none)');
  }
  return map;
}

function assertSticky(phase: string, records: InferRecord[]): Map<string, string> {
  const byKey = armsByKey(records);
  assert.ok(byKey.size >= 100, `${phase}: expected most of the ${(LOOPS - KEYED_FROM) * KEYS_PER_LOOP} keys to be seen, saw ${byKey.size}`);
  const single = new Map<string, string>();
  const split = [...byKey].filter(([, arms]) => arms.size > 1);
  assert.deepEqual(split.map(([key, arms]) => `${key}: ${[...arms].join(', ')}`), [], `${phase}: every key must stay on one arm`);
  for (const [key, arms] of byKey) single.set(key, [...arms][0]!);
  return single;
}

function assertShare(phase: string, records: InferRecord[], weight: number): void {
  const unkeyed = records.filter((r) => r.key === undefined);
  assert.ok(unkeyed.length >= SHARE_SAMPLE, `${phase}: only ${unkeyed.length} unkeyed responses`);
  const canary = unkeyed.filter((r) => r.arm === 'canary').length;
  const share = canary / unkeyed.length;
  assert.ok(Math.abs(share - weight / 100) <= TOLERANCE, `${phase}: canary share ${(share * 100).toFixed(2)}% of ${unkeyed.length} responses, expected ${weight}% ± ${TOLERANCE * 100}`);
  // Each arm answers with its own version.
  const mismatched = records.filter((r) => !((r.arm === 'canary' && r.version === '2') || (r.arm === 'stable' && r.version === '1')));
  assert.deepEqual([...countBy(mismatched, (r) => `${r.status} ${r.arm}@${r.version}`)], [], `${phase}: arms must answer with their versions (canary → 2, stable → 1)`);
}

function assertAllFrom(phase: string, records: InferRecord[], version: string, arm: string): void {
  assert.ok(records.length >= 500, `${phase}: only ${records.length} responses`);
  const other = records.filter((r) => r.status !== 200 || r.version !== version || r.arm !== arm);
  assert.deepEqual([...countBy(other, (r) => `${r.status} ${r.arm}@${r.version}`)], [], `${phase}: every answer must come from arm ${arm}, version ${version}`);
}

test('upload, canary 10% → 50% → 100%, rollback and shadow under continuous load: no failed request, traffic where the routing says', { timeout: 120_000 }, async () => {
  const api = new ManagementClient(server.url);
  load = new LoadGenerator({
    url: server.url,
    loops: LOOPS,
    plan: (loop, seq) => (loop >= KEYED_FROM ? { key: `user-${(loop - KEYED_FROM) * KEYS_PER_LOOP + (seq % KEYS_PER_LOOP)}` } : {}),
  }).start();
  const unkeyedSince = (t: number) => (r: InferRecord) => r.key === undefined && r.sentAt >= t;
  const anySince = (t: number) => (r: InferRecord) => r.sentAt >= t;
  await load.waitForRecords(500, () => true);

  // --- upload version 2: registering never changes what serves
  const v2 = buildMlpVariant(EXAMPLE_MLP.seed + 1);
  const uploaded = await api.upload('mlp', v2, { query: { description: 'retrained', source: 'integration-test', run_id: 'run-42' } });
  assert.equal(uploaded.status, 201, uploaded.text);
  assert.equal(uploaded.json.model, 'mlp');
  assert.equal(uploaded.json.version, 2);
  assert.equal(uploaded.json.digest, sha256Digest(v2));
  const tUploaded = performance.now();
  await load.waitForRecords(1000, anySince(tUploaded));

  // --- canary 10%
  const t10Start = performance.now();
  const set10 = await api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }], sticky: STICKY, reason: 'canary 10%' });
  assert.equal(set10.status, 200, set10.text);
  const t10 = performance.now();
  await load.waitForRecords(SHARE_SAMPLE, unkeyedSince(t10));

  // --- canary 50%
  const t50Start = performance.now();
  const set50 = await api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 50 }, { name: 'canary', version: 2, weight: 50 }], sticky: STICKY, reason: 'canary 50%' });
  assert.equal(set50.status, 200, set50.text);
  assert.equal(set50.json.routing.spec.seed, set10.json.routing.spec.seed, 'the seed is kept, so sticky keys keep their arm');
  const t50 = performance.now();
  await load.waitForRecords(SHARE_SAMPLE, unkeyedSince(t50));

  // --- canary 100%
  const t100Start = performance.now();
  const set100 = await api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 0 }, { name: 'canary', version: 2, weight: 100 }], sticky: STICKY, reason: 'canary 100%' });
  assert.equal(set100.status, 200, set100.text);
  const t100 = performance.now();
  await load.waitForRecords(1500, anySince(t100));

  // --- rollback: back to version 1
  const tRollbackStart = performance.now();
  const rolledBack = await api.post('/v1/models/mlp/rollback', { reason: 'integration test rollback' });
  const tRollback = performance.now();
  let rollbackProblem: string | undefined;
  if (rolledBack.status !== 200) {
    // Finish the rest of the scenario (explicit target) and report this at the end.
    rollbackProblem = `POST /v1/models/mlp/rollback {} after canary 100% answered ${rolledBack.status}: ${rolledBack.text}`;
    const explicit = await api.post('/v1/models/mlp/rollback', { to: 1, reason: 'integration test rollback (explicit)' });
    assert.equal(explicit.status, 200, explicit.text);
  }
  const tRollbackDone = performance.now();
  await load.waitForRecords(1500, anySince(tRollbackDone));

  // --- shadow: stable 1 answers everything, 50% mirrored to 2
  const tShadowStart = performance.now();
  const setShadow = await api.setRouting({ arms: [{ name: 'stable', version: 1, weight: 100 }], shadow: { version: 2, percent: 50 }, sticky: STICKY, reason: 'shadow' });
  assert.equal(setShadow.status, 200, setShadow.text);
  const tShadow = performance.now();
  await load.waitForRecords(1500, anySince(tShadow));
  const shadowView = await waitFor('mirrored requests', async () => {
    const view = await api.routing();
    return (view.json.shadow?.mirrored ?? 0) > 0 ? view.json : undefined;
  }, 10_000);
  const tEnd = performance.now();

  await load.stop();
  const records = load.records;

  // --- nothing failed, ever
  assert.equal(load.failures().length, 0, describeFailures(records));

  // --- before any switch (upload included): version 1 on the stable arm
  assertAllFrom('after upload', load.between(tUploaded, t10Start), '1', 'stable');

  // --- 10% and 50%: share of the canary, arms answer with their versions, stickiness
  const phase10 = load.between(t10, t50Start);
  const phase50 = load.between(t50, t100Start);
  assertShare('canary 10%', phase10, 10);
  assertShare('canary 50%', phase50, 50);
  const keys10 = assertSticky('canary 10%', phase10);
  const keys50 = assertSticky('canary 50%', phase50);
  const canary10 = [...keys10].filter(([, arm]) => arm === 'canary').map(([key]) => key);
  assert.ok(canary10.length > 0, 'some keys were on the canary at 10%');
  const moved = canary10.filter((key) => keys50.has(key) && keys50.get(key) !== 'canary');
  assert.deepEqual(moved, [], 'keys on the canary at 10% are still on it at 50%');
  assert.ok([...keys50].some(([key, arm]) => arm === 'canary' && keys10.get(key) === 'stable'), 'growing the canary moved some stable keys onto it');

  // --- 100%: everything from version 2
  assertAllFrom('canary 100%', load.between(t100, tRollbackStart), '2', 'canary');

  // --- after rollback: everything from version 1
  assertAllFrom('after rollback', load.between(rollbackProblem ? tRollbackDone : tRollback, tShadowStart), '1', 'stable');

  // --- shadow: answers from version 1 only, mirrored copies counted
  assertAllFrom('shadow', load.between(tShadow, tEnd), '1', 'stable');
  assert.equal(shadowView.shadow!.version, 2);
  assert.ok(shadowView.shadow!.mirrored > 0, `mirrored ${shadowView.shadow!.mirrored}`);
  assert.equal(shadowView.shadow!.failed, 0, 'the shadow answered every mirrored request');
  assert.deepEqual(shadowView.routing?.spec.shadow, { version: 2, percent: 50 });

  // --- the audit log tells the story, newest first
  const audit = await api.audit();
  assert.equal(audit.status, 200);
  const actions = audit.json.map((e) => e.action);
  assert.ok(actions.includes('version.register'), actions.join(', '));
  assert.ok(actions.filter((a) => a === 'routing.set').length >= 4, actions.join(', '));
  assert.ok(actions.includes('rollback'), actions.join(', '));
  assert.equal(audit.json[0]!.action, 'routing.set');

  assert.equal(rollbackProblem, undefined, rollbackProblem);
});
