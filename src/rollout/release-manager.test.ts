/**
 * The release manager over a real folder repository (fake runtime), a real SQLite registry and
 * the real artifact publisher: routing decisions, aliases, registering without changing what
 * serves, a version that fails to load, rollouts judged step by step on a controlled clock, a
 * restart that resumes a rollout, and rollback.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ErrorCode } from '../core/index.js';
import { ArtifactPublisher, fakeModel, FakeRuntime, FolderRepository, openRegistryStore, type FakeModelFile } from '../repository/index.js';
import { ReleaseManager } from './release-manager.js';
import type { RouteKey } from './serving-router.js';

const signature: FakeModelFile = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
};
const actor = { name: 'tester' };
const noKey: RouteKey = { header: () => undefined, parameter: () => undefined };

let root: string;
let clock: number;
let manager: ReleaseManager;
let repository: FolderRepository;

function writeVersion(version: number, file: FakeModelFile = signature): void {
  mkdirSync(join(root, 'm', String(version)), { recursive: true });
  writeFileSync(join(root, 'm', String(version), 'model.onnx'), fakeModel(file));
}

async function boot(): Promise<void> {
  const runtime = new FakeRuntime();
  let releases: ReleaseManager | undefined;
  repository = new FolderRepository({ root, runtime, controlMode: 'none', cpuCount: 2, pinnedVersions: (m) => releases?.pinnedVersions(m) ?? { versions: [], replacePolicy: false } });
  releases = new ReleaseManager({
    store: () => openRegistryStore(`sqlite:${join(root, '.modelport', 'registry.db')}`),
    repository,
    publisher: new ArtifactPublisher({ root, runtime }),
    syncIntervalMs: 0,
    tickMs: 3_600_000,
    warmWindowMs: 60_000,
    now: () => clock,
  });
  manager = releases;
  await manager.open();
  await repository.start();
  await manager.start();
}

async function shutdown(): Promise<void> {
  await manager.close();
  await repository.stop();
}

function served(version?: string, key: RouteKey = noKey): { version: number; arm: string } {
  const decision = manager.route(repository.model('m')!, version, key);
  return { version: decision.version.version, arm: decision.arm };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: { code?: string; message: string }) => {
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

function upload(file: FakeModelFile = signature): Readable {
  return Readable.from([Buffer.from(fakeModel(file))]);
}

describe('ReleaseManager', () => {
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'mp-releases-'));
    clock = Date.parse('2026-11-29T10:00:00Z');
    writeVersion(1);
    await boot();
  });
  afterEach(async () => {
    await shutdown();
    rmSync(root, { recursive: true, force: true });
  });

  test('imports folder versions with their digests and routes to the highest READY version until routing is set', async () => {
    const versions = await manager.listVersions('m');
    assert.equal(versions.length, 1);
    assert.match(versions[0]!.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(versions[0]!.source, 'folder import');
    assert.deepEqual(served(), { version: 1, arm: 'stable' });
    assert.deepEqual(served('1'), { version: 1, arm: 'direct' });
    assert.deepEqual((await manager.audit({ model: 'm' })).map((e) => e.action), ['version.import']);
    await assert.rejects(manager.audit({ until: 'garbage' }), /audit 'until' 'garbage' is not a date/);
  });

  test('registering a version does not change what serves; an alias makes it callable', async () => {
    const view = await manager.publish({ model: 'm', body: upload(), alias: 'staging', description: 'retrained' }, actor);
    assert.equal(view.version, 2);
    assert.deepEqual(view.aliases, ['staging']);
    assert.deepEqual(served(), { version: 1, arm: 'stable' });
    assert.deepEqual(served('staging'), { version: 2, arm: 'alias:staging' });
    assert.equal(manager.alias(repository.model('m')!, 'staging'), 2);
    assert.deepEqual((await manager.routing('m')).routing?.spec.arms.map((a) => [a.name, a.version, a.weight]), [['stable', 1, 100]]);
    await rejectsWith(manager.deleteVersion('m', 2, actor), 'MP_ERR_REGISTRY_IN_USE');
    await rejectsWith(manager.setAlias('m', 'latest', 2, actor), 'MP_ERR_REGISTRY_ALIAS_INVALID');
    await rejectsWith(manager.setAlias('m', 'prod', 9, actor), 'MP_ERR_MODEL_VERSION_UNKNOWN');
    assert.throws(() => served('nothing'), /no version or alias 'nothing'/);
  });

  test('a routing change that needs a version which fails to load changes nothing', async () => {
    await manager.publish({ model: 'm', body: upload() }, actor);
    // The file on disk breaks after registration (inspect passed; instance creation fails).
    writeVersion(2, { ...signature, failInstance: 'weights are corrupt' });
    const before = await manager.audit({ model: 'm' });
    await rejectsWith(
      manager.setRouting('m', { arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }] }, { dryRun: false }, actor),
      'MP_ERR_VERSION_LOAD_FAILED',
      /weights are corrupt/,
    );
    await rejectsWith(manager.startRollout({ model: 'm', to: 2 }, actor), 'MP_ERR_VERSION_LOAD_FAILED');
    assert.deepEqual(await manager.audit({ model: 'm' }), before);
    assert.deepEqual(served(), { version: 1, arm: 'stable' });
    assert.deepEqual(repository.model('m')!.versions.map((v) => [v.version, v.state]), [[1, 'READY']]);
  });

  test('dry runs diff without changing; weights that do not sum to 100 are refused', async () => {
    await manager.publish({ model: 'm', body: upload() }, actor);
    const spec = { arms: [{ name: 'stable', version: 1, weight: 50 }, { name: 'b', version: 2, weight: 50 }] };
    const dry = await manager.setRouting('m', spec, { dryRun: true }, actor);
    assert.ok(dry.diff.some((line) => line.includes('arm b')));
    assert.equal(dry.routing, undefined);
    assert.deepEqual(served(), { version: 1, arm: 'stable' });
    await rejectsWith(manager.setRouting('m', { arms: [{ name: 'stable', version: 1, weight: 50 }, { name: 'b', version: 2, weight: 40 }] }, { dryRun: false }, actor), 'MP_ERR_ROUTING_INVALID', /sum to 90/);
    const applied = await manager.setRouting('m', { ...spec, sticky: { header: 'x-user' } }, { dryRun: false }, actor);
    assert.equal(applied.routing?.revision, 2);
    const key = (user: string): RouteKey => ({ header: (name) => (name === 'x-user' ? user : undefined), parameter: () => undefined });
    const arms = new Map<string, string>();
    for (let i = 0; i < 200; i++) arms.set(`u${i}`, served(undefined, key(`u${i}`)).arm);
    for (let i = 0; i < 200; i++) assert.equal(served(undefined, key(`u${i}`)).arm, arms.get(`u${i}`));
    assert.ok([...arms.values()].includes('b') && [...arms.values()].includes('stable'));
  });

  test('a rollout steps forward on passing intervals and succeeds; rollback returns to the previous version', async () => {
    await manager.publish({ model: 'm', body: upload() }, actor);
    const started = await manager.startRollout({ model: 'm', to: 2, policy: { steps: [20, 100], intervalMs: 1000, minRequests: 10 } }, actor);
    assert.equal(started.weight, 20);
    const feed = () => {
      for (let i = 0; i < 20; i++) {
        manager.observe('m', 'canary', true, 2);
        manager.observe('m', 'stable', true, 2);
      }
    };
    feed();
    await manager.tick();
    assert.equal((await manager.rollout('m'))!.step, 0, 'an interval that is not over does not pass');
    clock += 1001;
    await manager.tick();
    assert.equal((await manager.rollout('m'))!.step, 1);
    feed();
    clock += 1001;
    await manager.tick();
    const done = (await manager.rollout('m'))!;
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(served(), { version: 2, arm: 'stable' });
    assert.ok(repository.model('m')!.versions.some((v) => v.version === 1 && v.state === 'READY'), 'the previous version stays warm');
    await manager.rollback({ model: 'm' }, actor);
    assert.deepEqual(served(), { version: 1, arm: 'stable' });
    const actions = (await manager.audit({ model: 'm' })).map((e) => e.action);
    assert.deepEqual(actions.slice(0, 4), ['rollback', 'rollout.succeeded', 'rollout.step', 'rollout.start']);
  });

  test('a breach rolls back at once with the reason in the audit log; too little data only waits', async () => {
    await manager.publish({ model: 'm', body: upload() }, actor);
    await manager.startRollout({ model: 'm', to: 2, policy: { steps: [50, 100], intervalMs: 1000, minRequests: 10, maxErrorRate: 0.05 } }, actor);
    for (let i = 0; i < 5; i++) manager.observe('m', 'canary', false, 2);
    clock += 1001;
    await manager.tick();
    assert.equal((await manager.rollout('m'))!.status, 'running', 'five requests are not enough to judge');
    for (let i = 0; i < 10; i++) manager.observe('m', 'canary', i % 2 === 0, 2);
    await manager.tick();
    const rolled = (await manager.rollout('m'))!;
    assert.equal(rolled.status, 'rolled_back');
    assert.match(rolled.reason, /error rate/);
    const entry = (await manager.audit({ model: 'm' }))[0]!;
    assert.equal(entry.action, 'rollout.rolled_back');
    assert.match(entry.reason, /error rate/);
    assert.deepEqual(served(), { version: 1, arm: 'stable' });
  });

  test('a restarted manager resumes the rollout where it was', async () => {
    await manager.publish({ model: 'm', body: upload() }, actor);
    const started = await manager.startRollout({ model: 'm', to: 2, policy: { steps: [10, 100], intervalMs: 1000, minRequests: 1 } }, actor);
    await shutdown();
    await boot();
    const resumed = (await manager.rollout('m'))!;
    assert.equal(resumed.id, started.id);
    assert.equal(resumed.status, 'running');
    assert.ok(repository.model('m')!.versions.some((v) => v.version === 2 && v.state === 'READY'), 'the candidate is loaded again');
    let canary = 0;
    for (let i = 0; i < 1000; i++) if (served().arm === 'canary') canary++;
    assert.ok(canary > 50 && canary < 150, `about 10% canary, got ${canary / 10}%`);
  });
});

describe('ReleaseManager output comparison', () => {
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'mp-releases-'));
    clock = Date.parse('2026-11-29T10:00:00Z');
    writeVersion(1);
    await boot();
  });
  afterEach(async () => {
    await shutdown();
    rmSync(root, { recursive: true, force: true });
  });

  const outputs = (shift: number, seed: number) => {
    let state = seed;
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    return [{ name: 'y', datatype: 'FP32' as const, shape: [1, 2], data: Float32Array.from([random() + shift, random()]) }];
  };

  test('a canary whose outputs differ from the stable arm is rolled back; equal outputs pass', async () => {
    await manager.publish({ model: 'm', body: upload() }, actor);
    await manager.startRollout({ model: 'm', to: 2, policy: { steps: [50, 100], intervalMs: 1000, minRequests: 10, maxOutputDrift: 0.1 } }, actor);
    for (let i = 0; i < 200; i++) {
      manager.observe('m', 'stable', true, 2, outputs(0, i + 1));
      manager.observe('m', 'canary', true, 2, outputs(0, i + 7919));
    }
    clock += 1001;
    await manager.tick();
    const passed = (await manager.rollout('m'))!;
    assert.equal(passed.step, 1, passed.reason);
    assert.match(passed.reason, /output drift/);
    await manager.abortRollout('m', actor);

    await manager.startRollout({ model: 'm', to: 2, policy: { steps: [50, 100], intervalMs: 1000, minRequests: 10, maxOutputDrift: 0.1 } }, actor);
    for (let i = 0; i < 200; i++) {
      manager.observe('m', 'stable', true, 2, outputs(0, i + 1));
      manager.observe('m', 'canary', true, 2, outputs(0.5, i + 7919));
    }
    await manager.tick();
    const rolled = (await manager.rollout('m'))!;
    assert.equal(rolled.status, 'rolled_back');
    assert.match(rolled.reason, /Jensen–Shannon distance .* on y\[0\]/);
  });
});
