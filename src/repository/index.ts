/** Model repository: folder scanning, configurations, versions and their lifecycle. */
export type * from './types.js';
export { FolderRepository } from './folder-repository.js';
export { instanceCount } from './normalize-model-config.js';
export type { RegistryStore, AuditQuery } from './registry-store.js';
export { ArtifactPublisher, fileDigest, DEFAULT_MAX_UPLOAD_BYTES, type ArtifactPublisherOptions, type StageOptions, type StagedArtifact } from './artifact-publisher.js';
export { openRegistryStore } from './store/index.js';
/** Test double of the Runtime seam, for tests of the layers above the repository. */
export { FakeRuntime, fakeModel, type FakeModelFile } from './fake-runtime.js';
