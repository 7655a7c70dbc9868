/**
 * Version folders of a model and the version policy that picks which of them load. A version
 * folder has a numeric name that does not start with "0" (Triton ignores "01", "0" and
 * non-numeric names, so "backup" or "1.old" beside "1" are simply not versions).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { VersionPolicy } from '../core/index.js';

const VERSION_FOLDER = /^[1-9][0-9]*$/;

export function isVersionFolderName(name: string): boolean {
  return VERSION_FOLDER.test(name) && Number.isSafeInteger(Number(name));
}

/** Version numbers found in a model folder, ascending. Symbolic links to folders count. */
export async function listVersionFolders(modelDir: string): Promise<number[]> {
  const entries = await readdir(modelDir, { withFileTypes: true });
  const versions: number[] = [];
  for (const entry of entries) {
    if (!isVersionFolderName(entry.name)) continue;
    let isDirectory = entry.isDirectory();
    if (!isDirectory && entry.isSymbolicLink()) {
      isDirectory = await stat(join(modelDir, entry.name)).then((s) => s.isDirectory(), () => false);
    }
    if (isDirectory) versions.push(Number(entry.name));
  }
  return versions.sort((a, b) => a - b);
}

export interface VersionSelection {
  /** Versions to load, ascending. */
  selected: number[];
  /** Versions a `specific` policy names that have no folder. */
  missing: number[];
}

/** "latest" means the numerically greatest versions, as in Triton. */
export function selectVersions(available: readonly number[], policy: VersionPolicy): VersionSelection {
  const sorted = [...available].sort((a, b) => a - b);
  if (policy.all) return { selected: sorted, missing: [] };
  if (policy.specific) {
    const present = new Set(sorted);
    const wanted = [...new Set(policy.specific.versions)].sort((a, b) => a - b);
    return { selected: wanted.filter((v) => present.has(v)), missing: wanted.filter((v) => !present.has(v)) };
  }
  const count = policy.latest?.num_versions ?? 1;
  return { selected: sorted.slice(Math.max(0, sorted.length - count)), missing: [] };
}

export function describeVersionPolicy(policy: VersionPolicy): string {
  if (policy.all) return 'all';
  if (policy.specific) return `specific versions ${policy.specific.versions.join(', ')}`;
  return `latest ${policy.latest?.num_versions ?? 1}`;
}
