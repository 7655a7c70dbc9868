/** The use-case layer every adapter calls: health, metadata, repository control and inference. */
export type * from './types.js';
export { DataPlane } from './data-plane.js';
