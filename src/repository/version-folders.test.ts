/**
 * Tests of version folder discovery (numeric names not starting with "0", folders only) and of
 * the three version policies.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isVersionFolderName, listVersionFolders, selectVersions } from './version-folders.js';

describe('version folders', () => {
  const root = mkdtempSync(join(tmpdir(), 'modelport-versions-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('are numeric folders whose name does not start with 0', async () => {
    for (const name of ['1', '2', '10', '0', '01', '007', 'v3', '1.old', 'backup', '-1']) mkdirSync(join(root, name));
    writeFileSync(join(root, '5'), 'a file, not a folder');
    assert.deepEqual(await listVersionFolders(root), [1, 2, 10]);
    assert.equal(isVersionFolderName('99999999999999999999'), false, 'beyond safe integers');
  });

  it('latest N picks the numerically greatest', () => {
    assert.deepEqual(selectVersions([1, 2, 10], { latest: { num_versions: 1 } }), { selected: [10], missing: [] });
    assert.deepEqual(selectVersions([10, 1, 2], { latest: { num_versions: 2 } }).selected, [2, 10]);
    assert.deepEqual(selectVersions([3], { latest: { num_versions: 5 } }).selected, [3]);
  });

  it('all picks every version; specific picks those named and reports the missing ones', () => {
    assert.deepEqual(selectVersions([3, 1, 2], { all: {} }).selected, [1, 2, 3]);
    assert.deepEqual(selectVersions([1, 2, 3], { specific: { versions: [3, 1, 7] } }), { selected: [1, 3], missing: [7] });
  });
});
