/** Which version serves a request. */
export { VersionRouter, parseVersion } from './version-router.js';
