/** Model repository: folder scanning, configurations, versions and their lifecycle. */
export type * from './types.js';
export { FolderRepository } from './folder-repository.js';
