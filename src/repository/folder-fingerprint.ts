/**
 * Cheap change detection for a model folder: the text of its configuration files and, per version
 * folder, the name, size and modification time of every file in it. Poll mode compares a model's
 * fingerprint between scans to decide what to reload; the repository compares a version's
 * fingerprint to keep a READY version that did not change instead of loading it again. File
 * contents are not hashed: model files can be gigabytes, and a copy that changes a file changes its
 * size or time.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_FILES } from './model-config-parser.js';
import { listVersionFolders } from './version-folders.js';

/** Files (and subfolders, by name) of a version folder; '' when the folder cannot be read. */
export async function versionFingerprint(versionDir: string): Promise<string> {
  let entries;
  try {
    entries = await readdir(versionDir, { withFileTypes: true });
  } catch {
    return '';
  }
  const parts = await Promise.all(
    entries.map(async (entry) => {
      try {
        const info = await stat(join(versionDir, entry.name));
        return info.isDirectory() ? `${entry.name}/` : `${entry.name}:${info.size}:${info.mtimeMs}`;
      } catch {
        return `${entry.name}?`;
      }
    }),
  );
  return parts.sort().join('|');
}

/** Configuration texts plus every version folder's fingerprint. */
export async function modelFingerprint(modelDir: string): Promise<string> {
  const parts: string[] = [];
  for (const file of [...CONFIG_FILES.map((c) => c.file), 'config.pbtxt']) {
    const text = await readFile(join(modelDir, file), 'utf8').catch(() => undefined);
    if (text !== undefined) parts.push(`${file}\n${text}`);
  }
  let versions: number[];
  try {
    versions = await listVersionFolders(modelDir);
  } catch {
    return `${parts.join('\n')}\n<unreadable>`;
  }
  for (const version of versions) parts.push(`${version}:${await versionFingerprint(join(modelDir, String(version)))}`);
  return parts.join('\n');
}
