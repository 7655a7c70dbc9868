/**
 * Two replicas on one Postgres registry share credentials and rate limits: a key created with
 * `modelport keys create --registry postgres://…` works on both at once and its revocation reaches
 * both; with --rate-limit-shared, a per-model limit of 6 requests a minute admits 6 requests in
 * all, however they are spread over the replicas. Needs MODELPORT_TEST_POSTGRES_URL (eval "$(bash
 * scripts/start-test-postgres.sh)"); skipped without it, except under CI=true.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { modelport } from '../fixtures/cli-runner.js';
import { createTestDatabase, POSTGRES_URL_ENV, type TestDatabase } from '../fixtures/postgres.js';
import { createMlpRepository, type RegistryRepository } from '../fixtures/registry-repository.js';
import { startServers, type ServerProcess } from '../fixtures/server-process.js';

const available = Boolean(process.env[POSTGRES_URL_ENV]);
const required = process.env.CI === 'true';

let database: TestDatabase | undefined;
let repo: RegistryRepository | undefined;
const servers: ServerProcess[] = [];

after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  repo?.cleanup();
  await database?.drop();
});

const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 256], datatype: 'FP32', data: new Array(256).fill(0.25) }] });

async function infer(server: ServerProcess, key: string): Promise<number> {
  const response = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body });
  await response.arrayBuffer();
  return response.status;
}

test('replicas share keys, revocations and rate limits through Postgres', { skip: !available && !required ? `${POSTGRES_URL_ENV} is not set` : false, timeout: 90_000 }, async () => {
  assert.ok(available, `${POSTGRES_URL_ENV} must be set when CI=true`);
  database = await createTestDatabase();
  assert.ok(database);
  repo = createMlpRepository();
  const args = repo.serverArgs(['--rate-limit-per-model', 'mlp=6/m', '--rate-limit-shared', 'true'], database.url);
  const [a, b] = await startServers(2, args, { secure: true });
  servers.push(a!, b!);

  const created = await modelport('keys', 'create', '--role', 'infer', '--registry', database.url, '--json');
  assert.equal(created.code, 0, created.stderr);
  const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };

  // Six requests spread over both replicas pass; the seventh, on either, is refused.
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push(await infer(i % 2 === 0 ? a! : b!, key));
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
  assert.equal(await infer(a!, key), 429);
  assert.equal(await infer(b!, key), 429);

  const revoked = await modelport('keys', 'revoke', id, '--registry', database.url);
  assert.equal(revoked.code, 0, revoked.stderr);
  const deadline = Date.now() + 10_000;
  const refused = new Set<string>();
  while (refused.size < 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    for (const [name, server] of [['a', a!], ['b', b!]] as const) if ((await infer(server, key)) === 401) refused.add(name);
  }
  assert.deepEqual([...refused].sort(), ['a', 'b'], 'both replicas refuse the revoked key');
});
