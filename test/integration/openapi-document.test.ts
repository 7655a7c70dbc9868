/**
 * The committed OpenAPI document (docs/api/openapi.json) is the one the routes produce: a change
 * to a route's schema that is not followed by `node dist/scripts/write-openapi.js` fails here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../fixtures/server-process.js';

test('docs/api/openapi.json is up to date with the routes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelport-openapi-'));
  try {
    const fresh = join(dir, 'openapi.json');
    execFileSync(process.execPath, [join(repoRoot, 'dist', 'scripts', 'write-openapi.js'), fresh]);
    const committed = readFileSync(join(repoRoot, 'docs', 'api', 'openapi.json'), 'utf8');
    assert.ok(readFileSync(fresh, 'utf8') === committed, 'docs/api/openapi.json is stale: run `npm run build && node dist/scripts/write-openapi.js`');
    const document = JSON.parse(committed) as { openapi: string; paths: Record<string, unknown> };
    assert.match(document.openapi, /^3\.0\./);
    for (const path of ['/v2/models/{name}/infer', '/v1/models', '/v1/jobs', '/v1/drift']) assert.ok(document.paths[path], `${path} documented`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
