/**
 * One suite for the registry store, run against SQLite (a temp file) and Postgres (a fresh
 * database on MODELPORT_TEST_POSTGRES_URL; start one with scripts/start-test-postgres.sh). Both
 * engines must behave the same: the store is one set of queries, and this is what keeps it so.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  isModelportError,
  type AuditInput,
  type ErrorCode,
  type RolloutRecord,
  type RoutingSpec,
  type VersionRecord,
} from '../../core/index.js';
import { createTestDatabase, havePostgres } from '../../../test/fixtures/postgres.js';
import { openRegistryStore, parseRegistryUrl } from './index.js';

const indexModule = new URL('./index.js', import.meta.url).href;

// ---- fixtures --------------------------------------------------------------------------------

function digestOf(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

function versionRecord(model: string, version: number, salt = ''): VersionRecord {
  return {
    model,
    version,
    digest: digestOf(`${model}/${version}${salt}`),
    size: 1024 * version,
    createdAt: '2025-01-02T03:04:05.000Z',
    createdBy: 'alice',
    source: `/models/${model}/${version}/model.onnx`,
    runId: `run-${version}`,
    description: `version ${version}`,
    tags: { team: 'search' },
  };
}

function audit(model: string, action: string, extra: Partial<AuditInput> = {}): AuditInput {
  return { actor: 'alice', model, action, from: '', to: '', reason: 'test', ...extra };
}

function spec(arms: Array<[name: string, version: number, weight: number]>, shadow?: { version: number; percent: number }): RoutingSpec {
  return { seed: 's1', arms: arms.map(([name, version, weight]) => ({ name, version, weight })), ...(shadow ? { shadow } : {}) };
}

function rollout(model: string, id: string, overrides: Partial<RolloutRecord> = {}): RolloutRecord {
  return {
    id,
    model,
    from: 1,
    to: 2,
    policy: { steps: [10, 50, 100], intervalMs: 60_000, maxErrorRate: 0.01, maxLatencyRatio: 2, minRequests: 100 },
    status: 'running',
    step: 0,
    stepStartedAt: '2025-01-02T03:00:00.000Z',
    startedAt: '2025-01-02T03:00:00.000Z',
    updatedAt: '2025-01-02T03:00:00.000Z',
    reason: '',
    revision: 0,
    ...overrides,
  };
}

function isCode(code: ErrorCode, ...mentions: string[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isModelportError(error), `expected a ModelportError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const text of mentions) assert.ok(error.message.includes(text), `message "${error.message}" should mention ${text}`);
    return true;
  };
}

/** Opens the store in `count` separate processes at once: the real shape of racing migrations. */
async function openInChildren(url: string, count: number): Promise<void> {
  const script = `const { openRegistryStore } = await import(process.argv[1]);
const store = await openRegistryStore(process.argv[2]);
await store.appendAudit({ actor: 'child', model: 'children', action: 'child.open', from: '', to: String(process.pid), reason: '' });
await store.close();`;
  const runs = Array.from({ length: count }, () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, indexModule, url], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`))));
    }),
  );
  await Promise.all(runs);
}

// ---- the suite -------------------------------------------------------------------------------

/**
 * Runs every case against the store at `url`. Cases share the store but each uses its own model
 * names, so they neither depend on nor disturb one another.
 */
async function registrySuite(t: TestContext, url: string, freshUrl: () => Promise<{ url: string; cleanup(): Promise<void> }>): Promise<void> {
  const store = await openRegistryStore(url);
  try {
    await t.test('versions: insert, read back, idempotent re-insert, conflicting digest', async () => {
      const m = 'versions';
      const v1: VersionRecord = {
        ...versionRecord(m, 1),
        signature: { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }], outputs: [{ name: 'y', datatype: 'INT64', shape: [-1] }] },
      };
      const v2 = { ...versionRecord(m, 2), size: 5_000_000_000 };
      assert.equal(await store.latestVersion(m), 0);
      assert.equal(await store.insertVersion(v1, audit(m, 'version.register', { to: '1' })), true);
      assert.equal(await store.insertVersion(v2, audit(m, 'version.register', { to: '2' })), true);
      assert.deepEqual(await store.getVersion(m, 1), v1);
      assert.deepEqual(await store.getVersion(m, 2), v2, 'sizes past 2^32 survive (BIGINT)');
      assert.equal(await store.getVersion(m, 3), undefined);
      assert.equal(await store.latestVersion(m), 2);
      assert.deepEqual(await store.listVersions(m), [v1, v2]);
      assert.ok((await store.listVersions()).some((v) => v.model === m && v.version === 2));

      assert.equal(await store.insertVersion(v1, audit(m, 'version.register')), false, 'same digest again is a no-op');
      const other = versionRecord(m, 1, 'different bytes');
      await assert.rejects(store.insertVersion(other, audit(m, 'version.register')), isCode('MP_ERR_REGISTRY_CONFLICT', `'${m}'`, 'version 1', v1.digest, other.digest));
      assert.deepEqual(await store.getVersion(m, 1), v1, 'the conflicting insert changed nothing');
      const entries = await store.listAudit({ model: m });
      assert.deepEqual(
        entries.map((e) => [e.action, e.to]),
        [
          ['version.register', '2'],
          ['version.register', '1'],
        ],
        'only the two real inserts were audited',
      );
    });

    await t.test('API keys: create, find, list, revoke once, refuse a duplicate id', async () => {
      const record = {
        id: 'a1b2c3d4e5f60718',
        name: 'ci deployer',
        role: 'infer' as const,
        models: ['mlp', 'vad'],
        hash: 'f'.repeat(64),
        createdAt: '2026-01-01T00:00:00.000Z',
        createdBy: 'alice',
        expiresAt: '2027-01-01T00:00:00.000Z',
        revokedAt: null,
      };
      await store.createApiKey(record);
      await store.createApiKey({ ...record, id: 'b1b2c3d4e5f60718', role: 'admin', models: null, expiresAt: null });
      assert.deepEqual(await store.getApiKey(record.id), record);
      assert.equal(await store.getApiKey('0000000000000000'), undefined);
      await assert.rejects(store.createApiKey({ ...record, hash: 'e'.repeat(64) }), isCode('MP_ERR_REGISTRY_CONFLICT', record.id));
      assert.deepEqual((await store.listApiKeys()).map((k) => [k.id, k.role, k.models]), [
        [record.id, 'infer', ['mlp', 'vad']],
        ['b1b2c3d4e5f60718', 'admin', null],
      ]);
      assert.equal(await store.revokeApiKey(record.id, '2026-02-01T00:00:00.000Z'), true);
      assert.equal(await store.revokeApiKey(record.id, '2026-03-01T00:00:00.000Z'), true);
      assert.equal((await store.getApiKey(record.id))!.revokedAt, '2026-02-01T00:00:00.000Z', 'the first revocation stands');
      assert.equal(await store.revokeApiKey('0000000000000000', '2026-02-01T00:00:00.000Z'), false);
    });

    await t.test('aliases: set, move, delete, and the errors for unknown versions and aliases', async () => {
      const m = 'aliases';
      await store.insertVersion(versionRecord(m, 1), audit(m, 'version.register'));
      await store.insertVersion(versionRecord(m, 2), audit(m, 'version.register'));
      const before = (await store.listAudit({ model: m })).length;

      const prod = { model: m, alias: 'production', version: 1, updatedAt: '2025-01-03T00:00:00.000Z', updatedBy: 'alice' };
      await store.setAlias(prod, audit(m, 'alias.set', { to: '1' }));
      await store.setAlias({ model: m, alias: 'beta', version: 2, updatedAt: '2025-01-03T00:00:00.000Z', updatedBy: 'bob' }, audit(m, 'alias.set'));
      assert.deepEqual(await store.listAliases(m), [
        { model: m, alias: 'beta', version: 2, updatedAt: '2025-01-03T00:00:00.000Z', updatedBy: 'bob' },
        prod,
      ]);

      const moved = { ...prod, version: 2, updatedAt: '2025-01-04T00:00:00.000Z', updatedBy: 'carol' };
      await store.setAlias(moved, audit(m, 'alias.set', { from: '1', to: '2' }));
      assert.deepEqual((await store.listAliases(m)).find((a) => a.alias === 'production'), moved);
      assert.ok((await store.listAliases()).some((a) => a.model === m && a.alias === 'beta'));

      await assert.rejects(store.setAlias({ ...prod, version: 9 }, audit(m, 'alias.set')), isCode('MP_ERR_MODEL_VERSION_UNKNOWN', 'production', '9'));
      await store.deleteAlias(m, 'beta', audit(m, 'alias.delete'));
      assert.deepEqual(
        (await store.listAliases(m)).map((a) => a.alias),
        ['production'],
      );
      await assert.rejects(store.deleteAlias(m, 'beta', audit(m, 'alias.delete')), isCode('MP_ERR_REGISTRY_ALIAS_UNKNOWN', 'beta'));
      assert.equal((await store.listAudit({ model: m })).length - before, 4, 'set, set, move and delete were audited; the failures were not');
    });

    await t.test('deleteVersion: refused while an alias or the routing uses it', async () => {
      const m = 'deletes';
      for (const v of [1, 2, 3]) await store.insertVersion(versionRecord(m, v), audit(m, 'version.register'));
      await store.setAlias({ model: m, alias: 'production', version: 1, updatedAt: '2025-01-03T00:00:00.000Z', updatedBy: 'alice' }, audit(m, 'alias.set'));
      await store.setAlias({ model: m, alias: 'stable', version: 1, updatedAt: '2025-01-03T00:00:00.000Z', updatedBy: 'alice' }, audit(m, 'alias.set'));
      const routed = await store.putRouting(m, spec([['stable', 1, 90], ['canary', 2, 10]], { version: 3, percent: 5 }), 0, 'alice', audit(m, 'routing.set'));
      assert.ok(routed);
      const before = (await store.listAudit({ model: m })).length;

      await assert.rejects(store.deleteVersion(m, 1, audit(m, 'version.delete')), isCode('MP_ERR_REGISTRY_IN_USE', "'production'", "'stable'", 'alias'));
      await assert.rejects(store.deleteVersion(m, 2, audit(m, 'version.delete')), isCode('MP_ERR_REGISTRY_IN_USE', "'canary'", 'arm'));
      await assert.rejects(store.deleteVersion(m, 3, audit(m, 'version.delete')), isCode('MP_ERR_REGISTRY_IN_USE', "'shadow'"));
      await assert.rejects(store.deleteVersion(m, 7, audit(m, 'version.delete')), isCode('MP_ERR_MODEL_VERSION_UNKNOWN', '7', `'${m}'`));
      assert.equal((await store.listAudit({ model: m })).length, before, 'refusals leave no audit entry');
      assert.equal((await store.listVersions(m)).length, 3);

      // Once nothing points at version 3 any more it can go.
      assert.ok(await store.putRouting(m, spec([['stable', 1, 90], ['canary', 2, 10]]), routed.revision, 'alice', audit(m, 'routing.set')));
      await store.deleteVersion(m, 3, audit(m, 'version.delete', { from: '3' }));
      assert.equal(await store.getVersion(m, 3), undefined);
      assert.equal((await store.listAudit({ model: m, limit: 1 }))[0]?.action, 'version.delete');
      await assert.rejects(store.deleteVersion(m, 3, audit(m, 'version.delete')), isCode('MP_ERR_MODEL_VERSION_UNKNOWN'));
    });

    await t.test('routing: compare-and-set on the revision; of racing writers exactly one wins', async () => {
      const m = 'routing';
      assert.equal(await store.getRouting(m), undefined);
      const first = await store.putRouting(m, spec([['stable', 1, 100]]), 0, 'alice', audit(m, 'routing.set'));
      assert.ok(first);
      assert.equal(first.revision, 1);
      assert.equal(first.updatedBy, 'alice');
      assert.deepEqual(await store.getRouting(m), first);
      assert.equal(await store.putRouting(m, spec([['stable', 2, 100]]), 0, 'bob', audit(m, 'routing.set')), undefined, 'expected 0 but it exists');
      assert.equal(await store.putRouting(m, spec([['stable', 2, 100]]), 5, 'bob', audit(m, 'routing.set')), undefined, 'stale revision');

      for (const writers of [2, 5]) {
        const current = (await store.getRouting(m))!;
        const results = await Promise.all(
          Array.from({ length: writers }, (_, i) =>
            store.putRouting(m, spec([['stable', 1, 100 - i], ['canary', 2, i]]), current.revision, `writer-${i}`, audit(m, 'routing.set', { actor: `writer-${i}` })),
          ),
        );
        const winners = results.filter((r) => r !== undefined);
        assert.equal(winners.length, 1, `${writers} writers on revision ${current.revision}: exactly one wins`);
        assert.equal(winners[0]!.revision, current.revision + 1);
        assert.deepEqual(await store.getRouting(m), winners[0]);
      }
      const entries = await store.listAudit({ model: m });
      assert.equal(entries.length, 3, 'only the winners were audited');
      assert.ok((await store.listRouting()).some((r) => r.model === m && r.revision === 3));
    });

    await t.test('rollouts: insert and update are CAS, and carry the routing change in the same transaction', async () => {
      const m = 'rollouts';
      const routing0 = (await store.putRouting(m, spec([['stable', 1, 100]]), 0, 'alice', audit(m, 'routing.set')))!;
      const auditBefore = (await store.listAudit({ model: m })).length;

      // Routing CAS fails: the rollout must not be inserted either.
      const r = rollout(m, 'ro-1');
      assert.equal(await store.putRollout(r, 0, audit(m, 'rollout.start'), { spec: spec([['stable', 1, 90], ['canary', 2, 10]]), expectedRevision: 7 }), undefined);
      assert.equal(await store.getRollout('ro-1'), undefined, 'rollout rolled back with the lost routing CAS');
      assert.deepEqual(await store.getRouting(m), routing0);

      const started = await store.putRollout(r, 0, audit(m, 'rollout.start'), { spec: spec([['stable', 1, 90], ['canary', 2, 10]]), expectedRevision: routing0.revision });
      assert.deepEqual(started, { ...r, revision: 1 });
      assert.deepEqual(await store.getRollout('ro-1'), started);
      const routing1 = (await store.getRouting(m))!;
      assert.equal(routing1.revision, routing0.revision + 1);
      assert.deepEqual(routing1.spec.arms.map((a) => a.weight), [90, 10]);
      assert.equal(routing1.updatedBy, 'alice');
      assert.deepEqual(await store.activeRollout(m), started);
      assert.equal(await store.putRollout(r, 0, audit(m, 'rollout.start')), undefined, 'the id is taken');

      // Update whose routing CAS is stale: neither the rollout nor the routing changes.
      const next = { ...started!, step: 1, updatedAt: '2025-01-02T03:10:00.000Z' };
      assert.equal(await store.putRollout(next, 1, audit(m, 'rollout.step'), { spec: spec([['stable', 1, 50], ['canary', 2, 50]]), expectedRevision: routing0.revision }), undefined);
      assert.deepEqual(await store.getRollout('ro-1'), started);
      assert.deepEqual(await store.getRouting(m), routing1);

      const stepped = await store.putRollout(next, 1, audit(m, 'rollout.step'), { spec: spec([['stable', 1, 50], ['canary', 2, 50]]), expectedRevision: routing1.revision });
      assert.deepEqual(stepped, { ...next, revision: 2 });
      assert.equal((await store.getRouting(m))!.revision, routing1.revision + 1);
      assert.equal(await store.putRollout({ ...next, step: 2 }, 1, audit(m, 'rollout.step')), undefined, 'stale rollout revision');

      // Two controllers racing on the same revision: one wins.
      const racing = await Promise.all([
        store.putRollout({ ...next, status: 'paused', reason: 'operator' }, 2, audit(m, 'rollout.pause')),
        store.putRollout({ ...next, step: 2 }, 2, audit(m, 'rollout.step')),
      ]);
      assert.equal(racing.filter((x) => x !== undefined).length, 1);

      const current = (await store.getRollout('ro-1'))!;
      const done = await store.putRollout({ ...current, status: 'succeeded', updatedAt: '2025-01-02T04:00:00.000Z' }, current.revision, audit(m, 'rollout.succeed'));
      assert.equal(done?.status, 'succeeded');
      assert.equal(await store.activeRollout(m), undefined);

      await store.putRollout(rollout(m, 'ro-2', { startedAt: '2025-01-05T00:00:00.000Z' }), 0, audit(m, 'rollout.start'));
      assert.deepEqual(
        (await store.listRollouts(m)).map((x) => x.id),
        ['ro-2', 'ro-1'],
        'newest first',
      );
      assert.deepEqual(
        (await store.listRollouts(m, 1)).map((x) => x.id),
        ['ro-2'],
      );
      assert.equal((await store.activeRollout(m))?.id, 'ro-2');
      assert.ok((await store.listRollouts()).length >= 2);
      // start, step, one racer, succeed, start: the lost CASes left nothing.
      assert.equal((await store.listAudit({ model: m })).length - auditBefore, 5);
    });

    await t.test('arm samples: upsert per (rollout, step, replica, arm) and read a step back', async () => {
      const base = { rolloutId: 'samples-1', step: 0, requests: 10, errors: 1, latencyBuckets: [1, 2, 3, 4] };
      await store.putArmSample({ ...base, replica: 'r1', arm: 'stable' });
      await store.putArmSample({ ...base, replica: 'r1', arm: 'canary', requests: 3 });
      await store.putArmSample({ ...base, replica: 'r2', arm: 'canary', requests: 4 });
      await store.putArmSample({ ...base, replica: 'r1', arm: 'stable', requests: 20, errors: 0, latencyBuckets: [5, 15] });
      await store.putArmSample({ ...base, step: 1, replica: 'r1', arm: 'stable', requests: 99 });
      await store.putArmSample({ ...base, replica: 'r1', arm: 'stable', requests: 3_000_000_000 });
      assert.deepEqual(await store.armSamples('samples-1', 0), [
        { ...base, replica: 'r1', arm: 'canary', requests: 3 },
        { ...base, replica: 'r1', arm: 'stable', requests: 3_000_000_000 },
        { ...base, replica: 'r2', arm: 'canary', requests: 4 },
      ]);
      assert.deepEqual(
        (await store.armSamples('samples-1', 1)).map((s) => s.requests),
        [99],
      );
      assert.deepEqual(await store.armSamples('samples-1', 2), []);
      assert.deepEqual(await store.armSamples('nope', 0), []);
    });

    await t.test('audit: newest first, filters by model, afterId, until and limit', async () => {
      const times = ['2030-01-01T00:00:00.000Z', '2030-01-02T00:00:00.000Z', '2030-01-03T00:00:00.000Z'];
      const a = await store.appendAudit(audit('audit-a', 'x.one', { at: times[0], details: { weight: 10, nested: { ok: true } } }));
      const b = await store.appendAudit(audit('audit-b', 'x.two', { at: times[1] }));
      const c = await store.appendAudit(audit('audit-a', 'x.three', { at: '2030-01-03T01:00:00+01:00' }));
      assert.ok(a.id < b.id && b.id < c.id, 'ids increase');
      assert.equal(c.at, times[2], 'times are stored as UTC ISO 8601');
      assert.equal(await store.lastAuditId(), c.id);
      assert.deepEqual(a, { id: a.id, at: times[0], actor: 'alice', model: 'audit-a', action: 'x.one', from: '', to: '', reason: 'test', details: { weight: 10, nested: { ok: true } } });
      assert.equal('details' in b, false);

      assert.deepEqual(await store.listAudit({ model: 'audit-a' }), [c, a]);
      assert.deepEqual(await store.listAudit({ afterId: a.id }), [c, b]);
      assert.deepEqual(await store.listAudit({ afterId: c.id }), []);
      assert.deepEqual(await store.listAudit({ model: 'audit-a', until: times[1] }), [a]);
      assert.deepEqual(await store.listAudit({ afterId: a.id - 1, until: '2030-01-02T00:00:00Z' }), [b, a]);
      assert.deepEqual(await store.listAudit({ afterId: a.id - 1, limit: 2 }), [c, b]);
      assert.deepEqual((await store.listAudit({ limit: 1 }))[0], c);

      const now = await store.appendAudit(audit('audit-c', 'x.now'));
      assert.ok(Math.abs(Date.parse(now.at) - Date.now()) < 60_000, 'at defaults to now');

      for (let i = 0; i < 105; i++) await store.appendAudit(audit('audit-many', `x.${i}`));
      const page = await store.listAudit({ model: 'audit-many' });
      assert.equal(page.length, 100, 'default limit');
      assert.equal(page[0]!.action, 'x.104');
      assert.equal((await store.listAudit({ model: 'audit-many', limit: 5000 })).length, 105);
      assert.equal((await store.listAudit({ model: 'audit-many', limit: 0 })).length, 1, 'limits are clamped to at least one');
    });

    await t.test('migrate: again, concurrently in one process, and from several processes on a fresh registry', async () => {
      await store.migrate();
      await Promise.all([store.migrate(), store.migrate(), store.migrate()]);
      assert.ok((await store.listVersions('versions')).length > 0, 'data survives re-migration');

      const fresh = await freshUrl();
      try {
        await openInChildren(fresh.url, 4);
        const check = await openRegistryStore(fresh.url);
        try {
          assert.equal((await check.listAudit({ model: 'children' })).length, 4);
        } finally {
          await check.close();
        }
      } finally {
        await fresh.cleanup();
      }
    });
  } finally {
    await store.close();
  }
}

// ---- engines ---------------------------------------------------------------------------------

test('registry store on SQLite', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-registry-'));
  try {
    // A folder that does not exist yet: openRegistryStore creates it.
    const url = `sqlite:${join(dir, 'nested', 'registry.db')}`;
    let n = 0;
    await registrySuite(t, url, async () => ({ url: `sqlite:${join(dir, `fresh-${++n}`, 'registry.db')}`, cleanup: async () => {} }));
    assert.ok(existsSync(join(dir, 'nested', 'registry.db')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('registry store on Postgres', async (t) => {
  if (!havePostgres(t)) return;
  const database = (await createTestDatabase())!;
  try {
    await registrySuite(t, database.url, async () => {
      const fresh = (await createTestDatabase())!;
      return { url: fresh.url, cleanup: () => fresh.drop() };
    });
    // Two stores (two pools) opening a fresh database at once race on creating the schema.
    const fresh = (await createTestDatabase())!;
    try {
      const stores = await Promise.all([openRegistryStore(fresh.url), openRegistryStore(fresh.url), openRegistryStore(fresh.url)]);
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      await fresh.drop();
    }
  } finally {
    await database.drop();
  }
});

test('registry URLs pick the engine', async () => {
  assert.deepEqual(parseRegistryUrl('sqlite:/var/lib/mp/registry.db'), { engine: 'sqlite', path: '/var/lib/mp/registry.db' });
  assert.deepEqual(parseRegistryUrl('sqlite:///var/lib/mp/registry.db'), { engine: 'sqlite', path: '/var/lib/mp/registry.db' });
  assert.deepEqual(parseRegistryUrl('/var/lib/mp/registry.sqlite'), { engine: 'sqlite', path: '/var/lib/mp/registry.sqlite' });
  assert.deepEqual(parseRegistryUrl('postgres://u:p@db:5432/mp'), { engine: 'postgres', url: 'postgres://u:p@db:5432/mp' });
  assert.equal(parseRegistryUrl('postgresql://db/mp').engine, 'postgres');
  assert.throws(() => parseRegistryUrl('mysql://u:secret@db/mp'), (error: unknown) => {
    assert.ok(isModelportError(error));
    assert.equal(error.code, 'MP_ERR_CONFIG_INVALID');
    assert.ok(!error.message.includes('secret'), 'passwords stay out of messages');
    return true;
  });
  assert.throws(() => parseRegistryUrl('/var/lib/mp/registry.json'), isCode('MP_ERR_CONFIG_INVALID'));
});

test('an unreachable Postgres is MP_ERR_REGISTRY_UNAVAILABLE', async () => {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  await assert.rejects(openRegistryStore('postgres://u:secret@127.0.0.1:1/mp'), (error: unknown) => {
    assert.ok(isModelportError(error));
    assert.equal(error.code, 'MP_ERR_REGISTRY_UNAVAILABLE');
    assert.ok(!error.message.includes('secret'));
    return true;
  });
});
