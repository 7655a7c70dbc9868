/** Which version serves a request. */
export { VersionRouter, parseVersion, unknownModel } from './version-router.js';
