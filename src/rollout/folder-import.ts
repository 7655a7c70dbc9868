/**
 * Plain repository folders become registered versions: every `<model>/<n>/` the registry does not
 * know yet is recorded with its digest, size and (when loaded) signature, as a "folder import".
 * A folder whose file no longer matches the digest registered for its number is reported, never
 * re-registered: versions are immutable.
 */
import type { Logger, VersionRecord } from '../core/index.js';
import { fileDigest, type RegistryStore, type ReleasableRepository } from '../repository/index.js';

/** Registers every version folder of the repository that the store does not know yet. */
export async function importFolderVersions(store: RegistryStore, repository: ReleasableRepository, logger: Logger, now: () => number): Promise<void> {
  for (const entry of repository.models()) {
    const folders = await repository.versionFolders(entry.name);
    for (const version of folders) {
      if (await store.getVersion(entry.name, version)) continue;
      const path = repository.modelFile(entry.name, version);
      let digest;
      try {
        digest = await fileDigest(path);
      } catch {
        continue; // a version folder without its model file is the repository's to report
      }
      const loaded = entry.versions.find((v) => v.version === version);
      const record: VersionRecord = {
        model: entry.name,
        version,
        digest: digest.digest,
        size: digest.size,
        createdAt: new Date(now()).toISOString(),
        createdBy: 'modelport',
        source: 'folder import',
        runId: '',
        description: '',
        tags: {},
        ...(loaded?.signature ? { signature: loaded.signature } : {}),
      };
      try {
        const inserted = await store.insertVersion(record, { actor: 'modelport', model: entry.name, action: 'version.import', from: '', to: String(version), reason: 'found in the model repository folder', details: { digest: digest.digest } });
        if (inserted) logger.info({ model: entry.name, version, digest: digest.digest }, `registered model '${entry.name}' version ${version} from the repository folder`);
      } catch (error) {
        logger.error({ model: entry.name, version, error: (error as Error).message }, `model '${entry.name}' version ${version} on disk does not match the registry: ${(error as Error).message}`);
      }
    }
  }
}
