/** Model repository: folder scanning, configurations, versions and their lifecycle. */
export type * from './types.js';
export { FolderRepository } from './folder-repository.js';
export { instanceCount } from './normalize-model-config.js';
