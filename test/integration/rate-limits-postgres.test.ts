/**
 * Shared rate limits on a fresh Postgres, with replicas coming up together: every one must start
 * (creating the counters' table raced, and a replica exited on "relation already exists"), and
 * they must then count against one limit. Needs MODELPORT_TEST_POSTGRES_URL (eval "$(bash
 * scripts/start-test-postgres.sh)"); skipped without it, except under CI=true.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isModelportError } from '../../src/core/index.js';
import { openRegistryStore, type RegistryStore } from '../../src/repository/index.js';
import { RateLimits, type Principal } from '../../src/security/index.js';
import { createTestDatabase, havePostgres } from '../fixtures/postgres.js';

const principal: Principal = { id: 'key:k1', role: 'infer' };

test('replicas sharing rate limits on a fresh database all start and count together', async (t) => {
  if (!havePostgres(t)) return;
  // Each round is a new database: the race is in creating the table, which happens once.
  for (let round = 0; round < 3; round++) {
    const database = await createTestDatabase();
    assert.ok(database);
    const stores: RegistryStore[] = [];
    try {
      // One store per replica, opened one after another (the store's own schema is not under test).
      for (let i = 0; i < 4; i++) stores.push(await openRegistryStore(database.url));
      const replicas = stores.map(() => new RateLimits({ perPrincipal: { points: 1000, windowSecs: 60, burst: 0 }, perModel: { '*': { points: 6, windowSecs: 60, burst: 0 } } }));
      const shared = await Promise.allSettled(replicas.map((limits, i) => limits.share(stores[i]!.postgresPool())));
      const failures = shared.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
      assert.deepEqual(failures, [], `round ${round}`);

      // Six requests in all, spread over the replicas; the seventh is refused wherever it lands.
      for (let request = 0; request < 6; request++) await replicas[request % replicas.length]!.consume(principal, 'mlp');
      await assert.rejects(replicas[2]!.consume(principal, 'mlp'), (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_RATE_LIMITED');
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await database.drop();
    }
  }
});
