/**
 * Opening the job queue on a real Postgres (MODELPORT_TEST_POSTGRES_URL; start one with
 * scripts/start-test-postgres.sh): workers started together on a fresh database must all come up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../core/index.js';
import { createTestDatabase, havePostgres } from '../../../test/fixtures/postgres.js';
import { DEAD_QUEUE, MERGE_QUEUE, openBoss, PARTITION_QUEUE } from './batch-store.js';

test('workers opening the queue at the same moment on a fresh database all start', async (t) => {
  if (!havePostgres(t)) return;
  // Each round is a new database: the race is in creating the tables and queues, which happens once.
  for (let round = 0; round < 3; round++) {
    const database = await createTestDatabase();
    assert.ok(database);
    try {
      const opened = await Promise.allSettled(Array.from({ length: 4 }, () => openBoss({ url: database.url, logger: silentLogger, poolSize: 2 })));
      const bosses = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      try {
        const failures = opened.flatMap((result) => (result.status === 'rejected' ? [(result.reason as Error).message] : []));
        assert.deepEqual(failures, [], `round ${round}`);
        const queues = (await bosses[0]!.getQueues()).map((queue) => queue.name).sort();
        assert.deepEqual(queues, [DEAD_QUEUE, MERGE_QUEUE, PARTITION_QUEUE].sort());
      } finally {
        await Promise.all(bosses.map((boss) => boss.stop({ graceful: false, wait: true })));
      }
    } finally {
      await database.drop();
    }
  }
});
