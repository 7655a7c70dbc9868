/**
 * The management commands end to end against the real REST adapter with an in-memory
 * ManagementApi behind it: what each command sends (body, query, actor, streamed file and its
 * digest), what it prints, and its exit code (0, 1 for a failed operation, 2 for a bad command
 * line). Each command runs in a child process, as a user runs it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, beforeEach, test } from 'node:test';
import { promisify } from 'node:util';
import { createRestServer, type RestServer } from '../adapters/rest/index.js';
import { mpError, type AliasRecord, type AuditEntry, type RoutingRecord } from '../core/index.js';
import type { DataPlaneApi, ManagementApi, PublishRequest, RolloutView, RoutingView, VersionView } from '../dataplane/index.js';

const AT = '2024-05-01T12:00:00.000Z';
const run = promisify(execFile);

const version = (n: number): VersionView => ({
  model: 'm',
  version: n,
  digest: `sha256:${'a'.repeat(64)}`,
  size: 2048,
  createdAt: AT,
  createdBy: 'ann',
  source: 'cli',
  runId: '',
  description: `v${n}`,
  tags: {},
  state: 'READY',
  aliases: n === 1 ? ['prod'] : [],
  arms: n === 1 ? ['stable'] : [],
});

const routing: RoutingRecord = {
  model: 'm',
  spec: { seed: 'seed-1', arms: [{ name: 'stable', version: 1, weight: 100 }], sticky: { header: 'x-user' } },
  revision: 3,
  updatedAt: AT,
  updatedBy: 'ann',
};

const rollout: RolloutView = {
  id: 'r1',
  model: 'm',
  from: 1,
  to: 2,
  policy: { steps: [10, 50, 100], intervalMs: 30_000, maxErrorRate: 0.01, maxLatencyRatio: 2, minRequests: 5 },
  status: 'running',
  step: 0,
  stepStartedAt: AT,
  startedAt: AT,
  updatedAt: AT,
  reason: '',
  revision: 1,
  weight: 10,
};

/** What the fake was asked, the upload's body replaced by its size and digest. */
let calls: Array<[string, ...unknown[]]> = [];
let hasRollout = true;

const answers: { [K in keyof ManagementApi]?: (...args: never[]) => unknown } = {
  listVersions: () => [version(1), version(2)],
  publish: async (request: PublishRequest) => {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of request.body as Readable) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    const received = `sha256:${hash.digest('hex')}`;
    if (request.digest !== undefined && request.digest !== received) throw mpError('MP_ERR_UPLOAD_DIGEST', `digest ${received} differs from ${request.digest}`);
    return { ...version(3), size: bytes, digest: received, aliases: request.alias ? [request.alias] : [] };
  },
  listAliases: () => [{ model: 'm', alias: 'prod', version: 1, updatedAt: AT, updatedBy: 'ann' }],
  setAlias: (model: string, alias: string, target: number | string): AliasRecord => ({ model, alias, version: Number(target), updatedAt: AT, updatedBy: 'x' }),
  deleteAlias: () => undefined,
  routing: (): RoutingView => ({ model: 'm', routing, arms: [{ arm: 'stable', version: 1, weight: 100, requests: 42, errors: 1, p99Ms: 12.34 }] }),
  setRouting: (_model: string, spec: object, options: { dryRun: boolean }) => ({
    dryRun: options.dryRun,
    before: routing.spec,
    after: { seed: 'seed-1', ...spec },
    diff: ['arm canary: added, version 2, weight 10', 'arm stable: weight 100 → 90'],
    ...(options.dryRun ? {} : { routing: { ...routing, revision: 4 } }),
  }),
  startRollout: () => rollout,
  rollout: () => (hasRollout ? rollout : undefined),
  pauseRollout: () => ({ ...rollout, status: 'paused', reason: 'looking' }),
  promoteRollout: () => ({ ...rollout, status: 'succeeded', weight: 100 }),
  rollback: (): RoutingRecord => ({ ...routing, revision: 5 }),
  audit: (): AuditEntry[] => [{ id: 1, at: AT, actor: 'ann', model: 'm', action: 'alias.set', from: '1', to: '2', reason: 'why' }],
};

const management = new Proxy({} as ManagementApi, {
  get(_target, name: string) {
    return async (...args: unknown[]) => {
      if (name !== 'listVersions' && name !== 'listAliases' && name !== 'routing' && name !== 'rollout') {
        calls.push([name, ...args.map((a) => (a && typeof a === 'object' && 'body' in a ? { ...a, body: '<stream>' } : a))]);
      }
      if ((args[0] as unknown) === 'nope') throw mpError('MP_ERR_MODEL_UNKNOWN', "Request for unknown model: 'nope' is not found");
      const answer = answers[name as keyof ManagementApi] as ((...a: unknown[]) => unknown) | undefined;
      if (!answer) throw new Error(`the test did not expect ${name}`);
      return answer(...args);
    };
  },
});

const dataPlane = { serverMetadata: () => ({ name: 'modelport', version: '0.0.0', extensions: [] }) } as unknown as DataPlaneApi;

let server: RestServer;
let url: string;
let dir: string;

before(async () => {
  server = createRestServer({ dataPlane, management, inferFastPath: false });
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${address.port}`;
  dir = mkdtempSync(join(tmpdir(), 'modelport-mgmt-cli-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  calls = [];
  hasRollout = true;
});

/** The management commands as main.ts registers them, in a child process (exit codes as main.ts sets them). */
const HARNESS = `
import { Command, CommanderError } from 'commander';
const load = (file) => import(new URL(file, process.env.CLI_DIR));
const program = new Command('modelport').exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
(await load('versions-command.js')).registerVersions(program);
(await load('route-command.js')).registerRoute(program);
(await load('rollout-command.js')).registerRollout(program);
(await load('audit-command.js')).registerAudit(program);
try {
  await program.parseAsync(process.argv.slice(1), { from: 'user' });
} catch (error) {
  process.exitCode = error instanceof CommanderError ? (error.exitCode === 0 ? 0 : 2) : 1;
}
`;

async function modelport(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const withUrl = args.includes('--url') ? args : [...args, '--url', url];
  try {
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', HARNESS, '--', ...withUrl], {
      env: { ...process.env, CLI_DIR: new URL('./', import.meta.url).href },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('push streams the file with its digest, metadata and actor', async () => {
  const file = join(dir, 'model.onnx');
  const content = randomBytes(300_000);
  writeFileSync(file, content);
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  const { code, stdout, stderr } = await modelport(
    'push', 'm', file, '--alias', 'canary', '--description', 'retrained', '--source', 'ci', '--run-id', 'r-7', '--tag', 'team=search', '--tag', 'stage=prod', '--actor', 'ann',
  );
  assert.equal(code, 0, stderr);
  assert.equal(stdout, `pushed m version 3: ${digest} (293 KiB)\naliases: canary\n`);
  assert.deepEqual(calls, [
    ['publish', { model: 'm', body: '<stream>', digest, alias: 'canary', description: 'retrained', source: 'ci', runId: 'r-7', tags: { team: 'search', stage: 'prod' } }, { name: 'ann' }],
  ]);
});

test('push --json prints the version; a missing file fails with 1, a bad tag with 2', async () => {
  const file = join(dir, 'small.onnx');
  writeFileSync(file, 'onnx');
  const { code, stdout } = await modelport('push', 'm', file, '--json');
  assert.equal(code, 0);
  assert.equal((JSON.parse(stdout) as VersionView).size, 4);
  let result = await modelport('push', 'm', join(dir, 'missing.onnx'));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot read .*missing\.onnx: ENOENT/);
  result = await modelport('push', 'm', file, '--tag', 'oops');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--tag.*KEY=VALUE/);
});

test('versions prints a table; an unknown model prints the server\'s message and exits 1', async () => {
  const { code, stdout } = await modelport('versions', 'm');
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^VERSION\s+STATE\s+ALIASES\s+ARMS\s+SIZE\s+CREATED\s+BY\s+DIGEST\s+DESCRIPTION$/);
  assert.match(lines[1]!, /^1\s+READY\s+prod\s+stable\s+2\.0 KiB\s+2024-05-01 12:00:00\s+ann\s+sha256:aaaaaaaaaaaa…\s+v1$/);
  const failed = await modelport('versions', 'nope');
  assert.equal(failed.code, 1);
  assert.equal(failed.stderr, "modelport: Request for unknown model: 'nope' is not found\n");
});

test('an unreachable server exits 1 naming it', async () => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const { code, stderr } = await modelport('versions', 'm', '--url', `http://127.0.0.1:${port}`);
  assert.equal(code, 1);
  assert.equal(stderr, `modelport: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);
});

test('alias lists, sets (numbers as numbers) and deletes; NAME without VERSION is a usage error', async () => {
  let result = await modelport('alias', 'm');
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^ALIAS\s+VERSION\s+UPDATED\s+BY\nprod\s+1\s+2024-05-01 12:00:00\s+ann\n$/);
  result = await modelport('alias', 'm', 'canary', '2', '--actor', 'bob');
  assert.equal(result.code, 0);
  assert.equal(result.stdout, 'canary → m version 2\n');
  assert.deepEqual(calls.at(-1), ['setAlias', 'm', 'canary', 2, { name: 'bob' }]);
  result = await modelport('alias', 'm', '--delete', 'canary');
  assert.equal(result.stdout, 'deleted alias canary of m\n');
  assert.equal(calls.at(-1)![0], 'deleteAlias');
  result = await modelport('alias', 'm', 'canary');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /needs a VERSION/);
});

test('route without change flags shows the routing and its counts', async () => {
  const { code, stdout } = await modelport('route', 'm');
  assert.equal(code, 0);
  assert.deepEqual(stdout.trimEnd().split('\n'), [
    'm: revision 3, updated 2024-05-01 12:00:00 by ann',
    'ARM     VERSION  WEIGHT  REQUESTS  ERRORS  P99',
    'stable  1        100%    42        1       12.3ms',
    'sticky: header x-user',
  ]);
});

test('route --set keeps the rest of the current routing; --dry-run and --reason are sent', async () => {
  const { code, stdout, stderr } = await modelport('route', 'm', '--set', 'stable=1:90,canary=2:10', '--shadow', '3:5', '--dry-run', '--reason', 'try');
  assert.equal(code, 0, stderr);
  assert.equal(stdout, 'dry run, nothing applied:\n  arm canary: added, version 2, weight 10\n  arm stable: weight 100 → 90\n');
  assert.deepEqual(calls, [
    [
      'setRouting',
      'm',
      { arms: [{ name: 'stable', version: 1, weight: 90 }, { name: 'canary', version: 2, weight: 10 }], sticky: { header: 'x-user' }, shadow: { version: 3, percent: 5 } },
      { dryRun: true, reason: 'try' },
      // --actor defaults to the user running the command.
      { name: userInfo().username },
    ],
  ]);
});

test('route --file sends the spec as written (unknown keys too); --sticky-header off drops stickiness', async () => {
  const file = join(dir, 'spec.json');
  writeFileSync(file, JSON.stringify({ arms: [{ name: 'stable', version: 2, weight: 100 }], sticky: { header: 'x-a' }, extra: true }));
  const { code, stdout } = await modelport('route', 'm', '--file', file, '--sticky-header', 'off');
  assert.equal(code, 0);
  assert.equal(stdout.split('\n')[0], 'applied (revision 4):');
  assert.deepEqual(calls[0]![2], { arms: [{ name: 'stable', version: 2, weight: 100 }], extra: true });
  assert.deepEqual(calls[0]![3], { dryRun: false });
});

test('route refuses bad splits and --file with --set as usage errors', async () => {
  let result = await modelport('route', 'm', '--set', 'stable:1');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--set.*NAME=VERSION:WEIGHT/);
  result = await modelport('route', 'm', '--set', 'stable=1', '--file', 'x.json');
  assert.equal(result.code, 2);
  assert.deepEqual(calls, []);
});

test('rollout start sends the policy in the API\'s names and prints the rollout', async () => {
  const { code, stdout, stderr } = await modelport(
    'rollout', 'start', 'm', '--to', '2', '--steps', '10,50,100', '--interval', '30s', '--max-error-rate', '0.01', '--max-p99-ms', '50', '--max-latency-ratio', '1.5', '--min-requests', '5',
  );
  assert.equal(code, 0, stderr);
  assert.deepEqual(calls[0]![1], { model: 'm', to: 2, policy: { steps: [10, 50, 100], intervalMs: 30_000, maxErrorRate: 0.01, maxP99Ms: 50, maxLatencyRatio: 1.5, minRequests: 5 } });
  assert.deepEqual(stdout.trimEnd().split('\n'), [
    'rollout r1 of m: version 1 → 2, running',
    'step 1 of 3 (10, 50, 100%): canary at 10% since 2024-05-01 12:00:00, every 30s',
    'limits: error rate ≤ 1%, p99 ≤ 2× stable, ≥ 5 requests per step',
  ]);
});

test('rollout start: a bad duration or a missing --to is a usage error', async () => {
  let result = await modelport('rollout', 'start', 'm', '--to', '2', '--interval', '3x');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--interval.*expected a duration/);
  result = await modelport('rollout', 'start', 'm');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--to/);
  assert.deepEqual(calls, []);
});

test('rollout pause, promote and status; status without a rollout exits 1', async () => {
  let result = await modelport('rollout', 'pause', 'm', '--reason', 'looking', '--actor', 'ann');
  assert.equal(result.code, 0);
  assert.match(result.stdout, /version 1 → 2, paused\n/);
  assert.match(result.stdout, /reason: looking\n$/);
  assert.deepEqual(calls.at(-1), ['pauseRollout', 'm', { name: 'ann' }, 'looking']);
  result = await modelport('rollout', 'promote', 'm', '--json');
  assert.equal((JSON.parse(result.stdout) as RolloutView).status, 'succeeded');
  result = await modelport('rollout', 'status', 'm');
  assert.equal(result.code, 0);
  hasRollout = false;
  result = await modelport('rollout', 'status', 'm');
  assert.equal(result.code, 1);
  assert.equal(result.stderr, "modelport: model 'm' has no rollout\n");
});

test('rollback sends to, at and reason', async () => {
  const { code, stdout } = await modelport('rollback', 'm', '--to', 'prod', '--at', '2024-05-01T14:00:00+02:00', '--reason', 'bad');
  assert.equal(code, 0);
  assert.equal(stdout, 'm now routes stable → version 1 (100%) (revision 5)\n');
  assert.deepEqual(calls[0]![1], { model: 'm', to: 'prod', at: AT, reason: 'bad' });
});

test('audit filters by model and limit and prints a table', async () => {
  const { code, stdout } = await modelport('audit', 'm', '--limit', '5');
  assert.equal(code, 0);
  assert.deepEqual(calls, [['audit', { model: 'm', limit: 5 }]]);
  assert.match(stdout, /^AT\s+ACTOR\s+MODEL\s+ACTION\s+FROM\s+TO\s+REASON\n2024-05-01 12:00:00\s+ann\s+m\s+alias\.set\s+1\s+2\s+why\n$/);
  const bad = await modelport('audit', '--limit', '0');
  assert.equal(bad.code, 2);
});
