import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelEntry, ModelVersionEntry } from '../repository/index.js';
import { parseVersion, VersionRouter } from './version-router.js';

const version = (v: number, state: ModelVersionEntry['state']): ModelVersionEntry => ({
  name: 'm', version: v, state, reason: '', config: { name: 'm', max_batch_size: 0, input: [], output: [] },
  ...(state === 'READY' ? { scheduler: {} as never } : {}),
});

const entry: ModelEntry = { name: 'm', state: 'READY', reason: '', versions: [version(1, 'READY'), version(2, 'READY'), version(3, 'UNAVAILABLE')] };

test('latest READY version serves by default; named versions must be READY', () => {
  const router = new VersionRouter();
  assert.equal(router.serving(entry, undefined).version, 2);
  assert.equal(router.serving(entry, 1).version, 1);
  assert.throws(() => router.serving(entry, 3), /Request for unknown model: 'm' version 3 is not at ready state/);
  assert.throws(() => router.serving(entry, 4), /Request for unknown model: 'm' version 4 is not found/);
  assert.throws(() => router.serving({ ...entry, versions: [] }, undefined), /has no available versions/);
});

test('version strings must be integers > 0', () => {
  assert.equal(parseVersion('m', undefined), undefined);
  assert.equal(parseVersion('m', ''), undefined);
  assert.equal(parseVersion('m', '12'), 12);
  assert.throws(() => parseVersion('m', '0'), /integral value > 0/);
  assert.throws(() => parseVersion('m', 'x1'), /integral value > 0/);
});
