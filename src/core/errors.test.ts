import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES } from './errors.js';

test('docs/errors.md documents every code of the catalogue, and no other', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `(MP_ERR_[A-Z_]+)` \| ([A-Z_]+) \|/gm)].map((m) => `${m[1]} ${m[2]}`));
  const catalogue = new Set(Object.entries(ERROR_CODES).map(([code, kind]) => `${code} ${kind}`));
  assert.deepEqual([...catalogue].filter((c) => !documented.has(c)), [], 'codes missing from docs/errors.md (or with another kind)');
  assert.deepEqual([...documented].filter((c) => !catalogue.has(c)), [], 'codes in docs/errors.md that the catalogue does not have');
});
